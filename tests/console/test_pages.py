"""The read pages over the analysed smoke store, without a browser: content, filters, pagination, graph and
timeline JSON, the audited reveal, search, and hostile strings escaped everywhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from distillguard.analysis.campaign_views import GraphSample
from distillguard.console import pages
from distillguard.signals import compute_signals
from distillguard.store import Store
from distillguard.store.console import audit_page
from distillguard.store.results import save_run
from distillguard.store.runs import latest_run_id
from factories import T0, account, accounts, exchange, exchanges

ClientAs = Callable[[str], TestClient]


def _e(text: str) -> str:
    """``text`` as the templates escape it."""
    return str(escape(text))


def _latest(store_path: Path) -> tuple[str, list[dict[str, Any]]]:
    """The newest run and its campaign records, largest first."""
    with Store(store_path, read_only=True) as store:
        run = latest_run_id(store)
        assert run is not None
        rows = store.query("SELECT record FROM campaigns WHERE run_id = $r", {"r": run}).column("record").to_pylist()
    records = sorted((orjson.loads(r) for r in rows), key=lambda r: (-r["n_accounts"], r["campaign_id"]))
    return run, records


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf_token on the page"
    return found.group(1)


def _rows_of(page: str, table_class: str) -> list[str]:
    body = page.split(f'<table class="{table_class}">', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], flags=re.S)


def test_overview_shows_totals_actions_detectors_and_the_series(client_as: ClientAs, store_path: Path) -> None:
    client = client_as("viewer")
    page = client.get("/")
    assert page.status_code == 200
    _, records = _latest(store_path)
    assert f"{len(records):,}</span> campaigns" in page.text
    assert "campaign.membership" in page.text  # the detector behind every flagged member
    assert 'data-src="/overview/series.json"' in page.text
    assert "This is the store's only run." in page.text
    series = client.get("/overview/series.json").json()
    assert len(series["t"]) == len(series["flagged"]) == len(series["campaigns"]) > 0
    flagged = int(re.search(r'"big">([0-9,]+)</span> flagged', page.text).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 0 < max(series["flagged"]) <= flagged
    assert max(series["campaigns"]) == len(records)  # the smoke campaigns all run on its one day
    assert series["unit"] == "hour" and all(b - a >= 3600 for a, b in pairwise(series["t"]))


def test_overview_says_what_changed_since_the_previous_run(client_as: ClientAs, store_path: Path) -> None:
    before, records = _latest(store_path)
    _hostile_run(store_path)
    page = client_as("viewer").get("/").text
    assert f"Compared with run <code>{before}</code>" in page
    assert "<strong>1</strong> new campaigns" in page and f"<strong>{len(records)}</strong> gone" in page


def test_campaign_list_sorts_filters_and_pages_on_the_server(client_as: ClientAs, store_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_as("viewer")
    _, records = _latest(store_path)
    ids_by_size = [r["campaign_id"] for r in sorted(records, key=lambda r: (r["n_accounts"], r["campaign_id"]))]

    def listed(query: str, **headers: str) -> list[str]:
        page = client.get(f"/campaigns?{query}", headers=headers)
        assert page.status_code == 200, page.text
        return re.findall(r'<td><a href="/campaigns/([^"]+)">', page.text)

    assert listed("sort=size&order=asc") == ids_by_size
    assert listed("sort=size&order=desc") == ids_by_size[::-1]
    smallest = min(r["n_accounts"] for r in records)
    assert listed(f"sort=size&order=asc&max_size={smallest}") == [ids_by_size[0]]
    assert listed("min_confidence=1.01") == []
    main = {r["campaign_id"]: max(r["capabilities"], key=r["capabilities"].get) for r in records}
    some = next(iter(main.values()))
    assert set(listed(f"capability={some}")) == {c for c, cap in main.items() if cap == some}
    assert set(listed("action=block")) | set(listed("action=allow")) <= set(main)
    assert listed("seen_after=2100-01-01") == []
    # htmx asks for the table only
    partial = client.get("/campaigns?sort=size", headers={"HX-Request": "true", "HX-Target": "campaign-table"})
    assert "<html" not in partial.text and "campaigns" in partial.text
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    assert listed("sort=size&order=asc&page=2") == [ids_by_size[1]]
    assert "next →" not in client.get(f"/campaigns?sort=size&order=asc&page={len(records)}").text
    assert client.get("/campaigns?min_size=many").status_code == 400
    assert client.get(f"/campaigns?page={10**30}&max_size={10**30}").status_code == 200  # clamped, not a store error
    assert client.get("/campaigns?sort=nonsense").status_code == 400


def test_campaign_page_shows_members_evidence_indicators_and_the_action_form(client_as: ClientAs,
                                                                           store_path: Path) -> None:
    _, records = _latest(store_path)
    record = records[0]
    page = client_as("analyst").get(f"/campaigns/{record['campaign_id']}")
    assert page.status_code == 200
    text = page.text
    assert f"{record['n_accounts']:,} accounts" in text
    for finding in record["findings"]:
        assert _e(finding["reason"]) in text
    for family in record["evidence"]["linking_edges"]:
        assert family.replace("_", " ") in text
    values = next(iter(record["indicators"].values()))
    assert _e(values[0]["value"]) in text
    assert f'action="/actions/campaign/{record["campaign_id"]}"' in text  # C1's form, for analysts
    assert 'data-graph="/campaigns/' in text and 'data-timeline="/campaigns/' in text
    assert len(_rows_of(text, "members")) == min(record["n_accounts"], pages.PAGE_SIZE)
    viewer = client_as("viewer").get(f"/campaigns/{record['campaign_id']}").text
    assert "Viewers cannot act" in viewer
    assert client_as("viewer").get("/campaigns/CMP-none").status_code == 404


def test_members_are_paginated_riskiest_first(client_as: ClientAs, store_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, records = _latest(store_path)
    record = records[0]
    client = client_as("viewer")
    monkeypatch.setattr(pages, "PAGE_SIZE", 3)
    seen: list[str] = []
    risks: list[float] = []
    for page_no in range(1, -(-record["n_accounts"] // 3) + 1):
        part = client.get(f"/campaigns/{record['campaign_id']}/members?page={page_no}").text
        rows = _rows_of(part, "members")
        seen += [re.search(r"\?id=([^\"]+)\"", r).group(1) for r in rows]  # type: ignore[union-attr]
        risks += [float(re.search(r'<td class="n">([0-9.]+)</td>', r).group(1)) for r in rows]  # type: ignore[union-attr]
    assert sorted(seen) == sorted(record["accounts"])
    assert risks == sorted(risks, reverse=True)


def test_graph_joins_members_to_shared_indicators_and_says_when_sampled(client_as: ClientAs, store_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, records = _latest(store_path)
    record = records[0]
    client = client_as("viewer")
    found = client.get(f"/campaigns/{record['campaign_id']}/graph.json").json()
    nodes = found["elements"]["nodes"]
    accounts_drawn = {n["data"]["label"] for n in nodes if n["data"]["type"] == "account"}
    assert accounts_drawn == set(record["accounts"]) and not found["sampled"]
    indicators = {n["data"]["id"]: n["data"] for n in nodes if n["data"]["type"] == "indicator"}
    assert indicators and all(i["accounts"] >= 2 for i in indicators.values())
    ends = {(e["data"]["source"], e["data"]["target"]) for e in found["elements"]["edges"]}
    assert all(s.startswith("a:") and t in indicators for s, t in ends)
    assert all(len([1 for s, _ in ends if s == a]) <= pages.GRAPH_SAMPLE.per_account for a in {s for s, _ in ends})
    monkeypatch.setattr(pages, "GRAPH_SAMPLE", GraphSample(max_accounts=5))
    sampled = client.get(f"/campaigns/{record['campaign_id']}/graph.json").json()
    assert sampled["sampled"] and sampled["drawn"] == 5 and sampled["members"] == record["n_accounts"]
    assert f"5 of {record['n_accounts']:,}" in sampled["note"]
    assert client.get("/campaigns/CMP-none/graph.json").status_code == 404


def test_timeline_gives_hourly_series_and_phases(client_as: ClientAs, store_path: Path) -> None:
    _, records = _latest(store_path)
    record = max(records, key=lambda r: r["n_exchanges"])
    found = client_as("viewer").get(f"/campaigns/{record['campaign_id']}/timeline.json").json()
    hours = found["hours"]
    assert hours == sorted(hours) and all(b - a == 3600 for a, b in pairwise(hours))
    assert sum(found["series"]["exchanges"]) == record["n_exchanges"]
    assert sum(sum(v) for v in found["models"].values()) == record["n_exchanges"]
    assert found["phases"], "the smoke campaign has at least its harvesting phase"
    assert all(p["start"] <= p["end"] and p["evidence"] for p in found["phases"])


def test_intrusion_partial(client_as: ClientAs, store_path: Path) -> None:
    _, records = _latest(store_path)
    part = client_as("viewer").get(f"/campaigns/{records[0]['campaign_id']}/intrusion")
    assert part.status_code == 200 and "<html" not in part.text
    assert "IS-" in part.text or "no other campaign" in part.text


def test_intrusion_sets_are_read_once_per_store_and_runs(client_as: ClientAs, store_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, records = _latest(store_path)
    calls: list[str] = []
    real = pages.find_intrusion_sets

    def counted(store: Store) -> Any:
        calls.append(str(store.path))
        return real(store)

    monkeypatch.setattr(pages, "find_intrusion_sets", counted)
    client = client_as("viewer")
    url = f"/campaigns/{records[0]['campaign_id']}/intrusion"
    first = client.get(url).text
    assert client.get(url).text == first and len(calls) == 1
    _hostile_run(store_path)  # a new run: read again
    client.get(url)
    assert len(calls) == 2


def _member_with_text(store_path: Path) -> tuple[str, str]:
    _, records = _latest(store_path)
    member = sorted(records[0]["accounts"])[0]
    with Store(store_path, read_only=True) as store:
        prompt = store.query("SELECT prompt FROM exchanges WHERE account_id = $a ORDER BY ts DESC LIMIT 1",
                             {"a": member}).column(0)[0].as_py()
    return member, prompt


def test_account_page_redacts_text_and_reveals_it_to_an_analyst_with_a_reason_audited(
        client_as: ClientAs, store_path: Path) -> None:
    member, prompt = _member_with_text(store_path)
    analyst = client_as("analyst")
    page = analyst.get("/account", params={"id": member})
    assert page.status_code == 200
    assert "campaign.membership" in page.text and "verification tier" in page.text
    assert _e(prompt) not in page.text and "redacted" in page.text
    assert f'action="/actions/account/{member}"' in page.text
    rid = re.search(r'action="/exchanges/(\d+)/reveal"', page.text).group(1)  # type: ignore[union-attr]
    token = _csrf(page.text)
    assert analyst.post(f"/exchanges/{rid}/reveal", data={"reason": "x"}).status_code == 403  # no CSRF token
    assert analyst.post(f"/exchanges/{rid}/reveal", data={"csrf_token": token, "reason": " "}).status_code == 400
    shown = analyst.post(f"/exchanges/{rid}/reveal", data={"csrf_token": token, "reason": "check the template"})
    assert shown.status_code == 200 and _e(prompt) in shown.text
    with Store(store_path, read_only=True) as store:
        _, entries = audit_page(store, 0, 10)
    reveal = next(e for e in entries if e.what == "reveal")
    assert reveal.target == f"exchange:{rid}" and reveal.reason == "check the template"
    assert reveal.detail == {"account": member} and reveal.actor.startswith("console:")
    series = analyst.get("/account/series.json", params={"id": member}).json()
    assert sum(series["exchanges"]) > 0 and len(series["t"]) == len(series["eliciting"])


def test_a_viewer_sees_no_reveal_form_and_cannot_reveal(client_as: ClientAs, store_path: Path) -> None:
    member, prompt = _member_with_text(store_path)
    viewer = client_as("viewer")
    page = viewer.get("/account", params={"id": member})
    assert "/reveal" not in page.text and "Viewers cannot act" in page.text
    with Store(store_path, read_only=True) as store:
        rid = store.query("SELECT rid FROM exchanges WHERE account_id = $a LIMIT 1", {"a": member}).column(0)[0].as_py()
    refused = viewer.post(f"/exchanges/{rid}/reveal", data={"csrf_token": _csrf(page.text), "reason": "curious"})
    assert refused.status_code == 403 and _e(prompt) not in refused.text


def test_search_by_account_ip_indicator_and_campaign(client_as: ClientAs, store_path: Path) -> None:
    _, records = _latest(store_path)
    record = records[0]
    member = sorted(record["accounts"])[0]
    client = client_as("viewer")

    def found(q: str) -> str:
        page = client.get("/search", params={"q": q})
        assert page.status_code == 200
        return page.text

    assert f"/account?id={member}" in found(member[:9])
    ip = record["indicators"]["ips"][0]["value"]
    assert "used IP " + ip in found(ip) and f"/campaigns/{record['campaign_id']}" in found(ip)
    if "payment_fingerprints" in record["indicators"]:
        pf = record["indicators"]["payment_fingerprints"][0]["value"]
        assert "payment fingerprint" in found(pf)
    assert f"/campaigns/{record['campaign_id']}" in found(record["campaign_id"][:8])
    assert found("zz-nothing-zz").count("None.") == 4
    assert "<section>" not in client.get("/search").text


HOSTILE_ID = "acct-<script>alert('id')</script>&\"x\""
HOSTILE_AGENT = '<img src=x onerror=alert("ua")>'
HOSTILE_CAMPAIGN = "CMP-\"><svg onload=alert(1)>"
HOSTILE_REASON = "<b>bold</b> & <i>reason</i>"


def _hostile_run(store_path: Path) -> None:
    """A newest run over an account with hostile id, user agent, campaign id, reason and indicator."""
    with Store(store_path) as store:
        batch = exchanges([exchange(i, request_id=f"hostile-{i}", account_id=HOSTILE_ID, user_agent=HOSTILE_AGENT,
                                    prompt=f"<script>alert({i})</script>") for i in range(3)])
        store.ingest_batch(batch, compute_signals(batch))
        store.upsert_accounts(accounts([account(HOSTILE_ID, category="<u>cat</u>", payment_fingerprint="<pf>")]))
        evidence = [{"detector": "<det>", "score": 0.9, "reason": HOSTILE_REASON}]
        decisions = pa.table({
            "account_id": [HOSTILE_ID], "risk": [0.9], "action": ["block"], "flagged": [True],
            "campaign_id": [HOSTILE_CAMPAIGN], "flagged_at": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "reasons": [[HOSTILE_REASON]],
            "evidence": pa.array([evidence], pa.list_(pa.struct([("detector", pa.string()), ("score", pa.float64()),
                                                                   ("reason", pa.string())]))),
            "decided_at": pa.array([T0], pa.timestamp("us", tz="UTC")),
        })
        record = {"campaign_id": HOSTILE_CAMPAIGN, "accounts": [HOSTILE_ID], "n_accounts": 1, "n_exchanges": 3,
                  "first_seen": T0.isoformat(), "last_seen": (T0 + timedelta(minutes=2)).isoformat(),
                  "capabilities": {"<cap>": 1.0}, "risk": 0.9, "confidence": 0.9, "reasons": [HOSTILE_REASON],
                  "evidence": {"linking_edges": {"<fam>": 1}},
                  "indicators": {"<kind>": [{"value": HOSTILE_AGENT, "accounts": 2}]},
                  "findings": evidence}
        campaigns = pa.table({
            "campaign_id": [HOSTILE_CAMPAIGN], "n_accounts": [1], "n_exchanges": [3],
            "first_seen": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "last_seen": pa.array([T0 + timedelta(minutes=2)], pa.timestamp("us", tz="UTC")),
            "confidence": [0.9], "record": [orjson.dumps(record).decode()],
        })
        save_run(store, run_id="run-hostile", kind="analyze", started_at=datetime.now(UTC), inputs=[], counts={},
                 features=pa.table({"account_id": [HOSTILE_ID]}), decisions=decisions, campaigns=campaigns)


@pytest.mark.parametrize("path", [
    "/", "/campaigns", "/campaigns/{campaign}", "/campaigns/{campaign}/members", "/account?id={account}",
    "/search?q={account}", "/search?q={agent}", "/search?q={query}",
])
def test_hostile_strings_are_escaped_on_every_page(client_as: ClientAs, store_path: Path, path: str) -> None:
    from urllib.parse import quote
    _hostile_run(store_path)
    url = path.format(campaign=quote(HOSTILE_CAMPAIGN, safe=""), account=quote(HOSTILE_ID, safe=""),
                      agent=quote(HOSTILE_AGENT, safe=""), query=quote("<script>alert(9)</script>", safe=""))
    page = client_as("analyst").get(url)
    assert page.status_code == 200, page.text[:500]
    for raw in (HOSTILE_ID, HOSTILE_AGENT, HOSTILE_CAMPAIGN, HOSTILE_REASON, "<script>", "<svg", "<img", "<b>", "<pf>",
                "<det>", "<u>", "<cap>", "<fam>", "<kind>"):
        assert raw not in page.text, f"{raw!r} unescaped on {url}"
    shown = {"/": HOSTILE_CAMPAIGN, "/campaigns": HOSTILE_CAMPAIGN, "/campaigns/{campaign}": HOSTILE_REASON,
             "/campaigns/{campaign}/members": HOSTILE_ID, "/account?id={account}": HOSTILE_AGENT,
             "/search?q={account}": HOSTILE_ID, "/search?q={agent}": HOSTILE_ID}
    if path in shown:
        assert _e(shown[path]) in page.text, f"{shown[path]!r} not shown on {url}"


def test_hostile_strings_stay_data_in_the_graph_json(client_as: ClientAs, store_path: Path) -> None:
    from urllib.parse import quote
    _hostile_run(store_path)
    reply = client_as("viewer").get(f"/campaigns/{quote(HOSTILE_CAMPAIGN, safe='')}/graph.json")
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-content-type-options"] == "nosniff"
    labels = {n["data"]["label"] for n in reply.json()["elements"]["nodes"]}
    assert HOSTILE_ID in labels


def test_revealed_hostile_text_is_escaped(client_as: ClientAs, store_path: Path) -> None:
    _hostile_run(store_path)
    analyst = client_as("analyst")
    page = analyst.get("/account", params={"id": HOSTILE_ID})
    rid = re.search(r'action="/exchanges/(\d+)/reveal"', page.text).group(1)  # type: ignore[union-attr]
    shown = analyst.post(f"/exchanges/{rid}/reveal", data={"csrf_token": _csrf(page.text), "reason": "<why>"})
    assert shown.status_code == 200
    assert "<script>" not in shown.text and "&lt;script&gt;alert(" in shown.text
