"""The campaign axes the families draw show in the traffic: identities, shared exits, signup patterns,
dispatch, rubric elicitation and incomplete logs."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from distillguard.core.errors import ConfigError
from distillguard.sim import simulate
from distillguard.sim.data import load_data
from distillguard.sim.scenario import LogFields, Scenario

from .conftest import read_jsonl

DAY_MS = 86_400_000

SCENARIO = {
    "name": "axes",
    "seed": 3,
    "duration_hours": 24,
    "populations": [
        {"kind": "phone_app", "accounts": 80, "exchanges": 400, "carriers": {"US": 1.0}, "wifi_share": 0.0},
        {"kind": "individual", "accounts": 100, "exchanges": 300, "countries": {"US": 1.0}, "proxy_exit_share": 1.0},
        {"kind": "tutoring", "accounts": 2, "exchanges": 200},
    ],
    "campaigns": [
        {"id": "spoof", "operator": "op-a", "accounts": 4, "exchanges": 300, "identity": "spoofed",
         "client": "claude-code", "api_format": "anthropic", "dispatch": "sticky",
         "proxy": {"kind": "carrier_nat", "pool_size": 400, "rotation": "per_request"}},
        {"id": "bought", "operator": "op-b", "accounts": 10, "exchanges": 300, "identity": "browser",
         "dispatch": "bursty", "signup": {"pattern": "bought"},
         "proxy": {"kind": "shared_residential", "pool_size": 2000, "rotation": "per_request"}},
        {"id": "rubric", "operator": "op-c", "accounts": 6, "exchanges": 150, "elicitation": {"rubric": 1.0},
         "identity": "rotating", "signup": {"pattern": "waves", "waves": 2}, "dispatch": "random"},
        {"id": "trickle", "operator": "op-d", "accounts": 12, "exchanges": 150, "signup": {"pattern": "trickle"},
         "start_hour": 2},
    ],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    out = tmp_path_factory.mktemp("axes")
    scenario = Scenario.model_validate(SCENARIO)
    simulate(scenario, out, None)
    return out, scenario


@pytest.fixture(scope="module")
def by_group(run: tuple[Path, Scenario]) -> dict[str, list[dict]]:
    out, _ = run
    group = {r["account_id"]: r["campaign"] or r["population"] for r in read_jsonl(out / "labels.jsonl")}
    records: dict[str, list[dict]] = defaultdict(list)
    for r in read_jsonl(out / "exchanges.jsonl"):
        records[group[r["account_id"]]].append(r)
    return records


def _ts(value: str | int) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def test_spoofed_agent_runs_over_another_tls_stack(by_group: dict[str, list[dict]]) -> None:
    families = load_data("clients")["families"]
    claimed_ja4 = set(families["claude-code"]["ja4"])
    spoof = by_group["spoof"]
    assert spoof and all(r["user_agent"].startswith("claude-cli/") for r in spoof)
    assert not {r["tls_ja4"] for r in spoof if "tls_ja4" in r} & claimed_ja4


def test_browser_like_and_rotating_identities(by_group: dict[str, list[dict]]) -> None:
    families = load_data("clients")["families"]
    browser_ja4 = {j for f in ("chrome", "firefox", "safari") for j in families[f]["ja4"]}
    assert all(r["user_agent"].startswith("Mozilla/") for r in by_group["bought"])
    assert {r["tls_ja4"] for r in by_group["bought"] if "tls_ja4" in r} <= browser_ja4
    assert len({r["user_agent"] for r in by_group["rubric"]}) > 3


def test_exits_shared_with_legitimate_users(by_group: dict[str, list[dict]]) -> None:
    ips = {g: {r["ip"] for r in recs} for g, recs in by_group.items()}
    assert ips["spoof"] & ips["phone_app"]
    assert ips["bought"] & ips["individual"]


def test_bought_accounts_keep_their_first_owners_traits(run: tuple[Path, Scenario],
                                                        by_group: dict[str, list[dict]]) -> None:
    out, scenario = run
    bought = {r["account_id"] for r in by_group["bought"]}
    records = [a for a in read_jsonl(out / "accounts.jsonl") if a["account_id"] in bought]
    assert records
    assert all(_ts(a["created_at"]) <= scenario.start_ms() - 30 * DAY_MS for a in records)
    assert len({a["payment_fingerprint"] for a in records}) == len(records)
    assert not {a["signup_ip"] for a in records} & {r["ip"] for r in by_group["bought"]}


@pytest.mark.parametrize("group", ["rubric", "trickle"])
def test_accounts_opened_during_the_campaign_send_after_signup(run: tuple[Path, Scenario],
                                                               by_group: dict[str, list[dict]], group: str) -> None:
    out, scenario = run
    created = {a["account_id"]: _ts(a["created_at"]) for a in read_jsonl(out / "accounts.jsonl")}
    recs = by_group[group]
    assert recs and all(_ts(r["ts"]) >= created[r["account_id"]] for r in recs)
    ours = {created[r["account_id"]] for r in recs}
    assert max(ours) > scenario.start_ms() + 3 * 3_600_000  # not all opened before the start


def test_sticky_dispatch_stays_on_one_account(by_group: dict[str, list[dict]]) -> None:
    recs = sorted(by_group["spoof"], key=lambda r: _ts(r["ts"]))
    switches = sum(a["account_id"] != b["account_id"] for a, b in pairwise(recs))
    assert switches < len(recs) / 5


def test_rubric_grading_asks_to_grade_a_given_answer(by_group: dict[str, list[dict]]) -> None:
    texts = [str(r["request"]).lower() for r in by_group["rubric"]]
    assert sum(("grade" in t or "rubric" in t or "score" in t) for t in texts) > 0.8 * len(texts)


def test_tutoring_asks_for_steps_from_verified_old_business_accounts(run: tuple[Path, Scenario],
                                                                     by_group: dict[str, list[dict]]) -> None:
    out, scenario = run
    ids = {r["account_id"] for r in by_group["tutoring"]}
    accounts = [a for a in read_jsonl(out / "accounts.jsonl") if a["account_id"] in ids]
    assert accounts and all(a["verification"] == "business" for a in accounts)
    assert all(_ts(a["created_at"]) < scenario.start_ms() - 30 * DAY_MS for a in accounts)
    assert all("step" in str(r["request"]).lower() for r in by_group["tutoring"])


def test_incomplete_logs_leave_fields_out(tmp_path: Path) -> None:
    scenario = Scenario.model_validate({**SCENARIO, "duration_hours": 4}).model_copy(
        update={"log": LogFields.without(["responses", "usage", "tls", "accounts"])})
    simulate(scenario, tmp_path, None)
    records = read_jsonl(tmp_path / "exchanges.jsonl")
    assert records
    assert not any({"response", "usage", "tls_ja4"} & set(r) for r in records)
    assert not (tmp_path / "accounts.jsonl").exists()
    assert (tmp_path / "labels.jsonl").exists()
    with pytest.raises(ConfigError, match="unknown"):
        LogFields.without(["payments"])
