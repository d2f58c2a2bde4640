"""The read pages' parts on their own: graph elements, timeline data, value formats, and the shipped JavaScript."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from distillguard.analysis.campaign_views import TOP_MODELS, graph_elements, timeline_data
from distillguard.campaigns.lifecycle import Lifecycle, Phase
from distillguard.console import views

CONSOLE = Path(__file__).resolve().parents[2] / "src" / "distillguard" / "console"
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _row(account: str, kind: str | None, value: str | None, accounts: int | None, members: int = 3) -> dict[str, object]:
    return {"account_id": account, "risk": 0.5, "members": members, "kind": kind, "value": value, "accounts": accounts}


def test_graph_elements_join_accounts_to_indicators_and_keep_unlinked_members() -> None:
    rows = [_row("a", "ip", "1.2.3.4", 2), _row("a", "payment", "pf_1", 2), _row("b", "ip", "1.2.3.4", 2),
            _row("b", "payment", "pf_1", 2), _row("c", None, None, None)]
    found = graph_elements(rows, "CMP-x")
    nodes = {n["data"]["id"]: n["data"] for n in found["elements"]["nodes"]}
    assert set(nodes) == {"a:a", "a:b", "a:c", "i:ip:1.2.3.4", "i:payment:pf_1"}
    assert {(e["data"]["source"], e["data"]["target"]) for e in found["elements"]["edges"]} == {
        ("a:a", "i:ip:1.2.3.4"), ("a:a", "i:payment:pf_1"), ("a:b", "i:ip:1.2.3.4"), ("a:b", "i:payment:pf_1")}
    assert found["coverage"] == {"IP": 2, "payment fingerprint": 2}
    assert not found["sampled"] and found["drawn"] == found["members"] == 3
    assert found["note"].startswith("all 3 member accounts drawn")


def test_graph_elements_say_when_they_are_a_sample() -> None:
    found = graph_elements([_row("a", None, None, None, members=20_000)], "CMP-x")
    assert found["sampled"] and found["note"].startswith("1 of 20,000 member accounts drawn (a fixed sample)")


def test_timeline_data_keeps_the_top_models_and_sums_the_rest() -> None:
    hours = [T0 + timedelta(hours=h) for h in range(3)]
    models = pl.DataFrame({
        "hour": [hours[0]] * (TOP_MODELS + 2) + [hours[2]],
        "model": [f"m{i}" for i in range(TOP_MODELS + 2)] + ["m0"],
        "n": [100 - i for i in range(TOP_MODELS + 2)] + [5],
    })
    hourly = pl.DataFrame({"hour": hours, "exchanges": [sum(range(93, 101)), 0, 5], "active_accounts": [3, 0, 1],
                           "elicit_share": [0.5, None, 1.0]})
    phase = Phase("pivot", hours[2], hours[2], "moved to m0")
    found = timeline_data(Lifecycle(hourly, models, pl.DataFrame(), pl.DataFrame(), [phase]))
    assert found["hours"] == [int(h.timestamp()) for h in hours]
    assert set(found["models"]) == {f"m{i}" for i in range(TOP_MODELS)} | {"other"}
    assert found["models"]["m0"] == [100, 0, 5] and found["models"]["other"] == [93 + 94, 0, 0]
    assert found["series"]["eliciting share"] == [0.5, 0.0, 1.0]
    assert found["phases"] == [{"kind": "pivot", "label": "pivot", "start": found["hours"][2], "end": found["hours"][2],
                                "start_text": "2026-03-02 02:00", "end_text": "2026-03-02 02:00",
                                "evidence": "moved to m0"}]


def test_formats() -> None:
    assert views.when(None) == "–" and views.when(T0) == "2026-03-02 00:00"
    assert views.span(T0, T0 + timedelta(hours=5)) == "5 h" and views.span(T0, T0 + timedelta(days=3)) == "3.0 d"
    assert views.num(1234567) == "1,234,567" and views.num(0.25, 2) == "0.25" and views.pct(0.254) == "25%"
    assert views.query({"sort": "size", "page": 2, "q": ""}, page=None, order="asc") == "sort=size&order=asc"
    assert views.query({"q": "a&b=c"}) == "q=a%26b%3Dc"


def test_shipped_javascript_matches_the_lock_and_no_template_has_an_inline_script() -> None:
    lock = json.loads((CONSOLE / "assets" / "package-lock.json").read_text())["packages"]
    vendor = CONSOLE / "static" / "vendor"
    assert f'version:"{lock["node_modules/htmx.org"]["version"]}"' in (vendor / "htmx.min.js").read_text()
    assert f'version="{lock["node_modules/cytoscape"]["version"]}"' in (vendor / "cytoscape.min.js").read_text()
    assert f'(v{lock["node_modules/uplot"]["version"]})' in (vendor / "uPlot.iife.min.js").read_text()[:200]
    for template in (CONSOLE / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{template.name}: inline script"
        assert not re.search(r"\son[a-z]+=", text), f"{template.name}: inline event handler"
        assert not re.search(r"\sstyle=", text), f"{template.name}: inline style"
