"""Account risk: fitted weights as validated data, scale-free terms, reasons in plain words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import yaml

from distillguard.accounts import score_accounts
from distillguard.accounts.risk import TERM_SIGNS, default_weights, load_weights
from distillguard.core.errors import ConfigError


def _profile(n: int, *, cot: float, continuation: float, novelty: float, active: float, span: float,
             datacenter: float = 0.0, templates: float = 50.0) -> dict[str, object]:
    return {
        "n_exchanges": n, "continuation_share": continuation, "prompt_novelty": novelty, "active_hours": active,
        "span_hours": span, "cot_share": cot, "reasoning_param_share": cot, "mean_reasoning_share": cot * 0.8,
        "hour_entropy": 4.3 if active >= 24 else 2.0, "capability_concentration": 0.9, "cap_general": 0.05,
        "ip_rotation": 0.01, "datacenter_share": datacenter, "vpn_share": 0.0, "tor_share": 0.0,
        "distinct_templates": templates, "top_capability": "reasoning",
    }


def _table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows)


CONTEXT = pa.table({"category": ["research", "research"], "verification": ["email", "email"]})


@pytest.mark.parametrize("model", ["account", "campaign"])
def test_shipped_weights_load_and_cover_every_term(model: str) -> None:
    weights = default_weights(model)  # type: ignore[arg-type]
    assert set(weights.weights) == set(TERM_SIGNS)
    assert weights.fitted_on, "the shipped weights say what they were fitted on"


def test_weights_on_the_wrong_side_or_missing_are_rejected() -> None:
    good = default_weights().model_dump()
    wrong = {**good, "weights": {**good["weights"], "conversation": 1.0}}
    with pytest.raises(ConfigError, match="conversation"):
        load_weights(yaml.safe_dump(wrong), "test.yaml")
    missing = {**good, "weights": {k: v for k, v in good["weights"].items() if k != "cot_elicitation"}}
    with pytest.raises(ConfigError, match="missing terms \\['cot_elicitation'\\]"):
        load_weights(yaml.safe_dump(missing), "test.yaml")
    with pytest.raises(ConfigError, match="test.yaml"):
        load_weights("bias: [", "test.yaml")


def test_risk_depends_on_shares_not_on_volume() -> None:
    harvester = {"cot": 0.95, "continuation": 0.0, "novelty": 1.0, "active": 120.0, "span": 160.0, "datacenter": 1.0}
    small, large = _profile(400, **harvester), _profile(40_000, **harvester)
    risk, _ = score_accounts(_table([small, large]), CONTEXT)
    assert risk[0] >= 0.7 and risk[1] >= 0.7
    assert abs(risk[0] - risk[1]) < 0.01  # only the evidence factor (400 vs 40,000 requests) differs


def test_hard_negatives_score_below_a_harvester() -> None:
    harvester = _profile(2_000, cot=0.95, continuation=0.0, novelty=1.0, active=140, span=160, datacenter=1.0)
    rerun_benchmark = _profile(1_200, cot=0.95, continuation=0.0, novelty=0.3, active=4, span=4, datacenter=1.0)
    agentic = _profile(3_000, cot=0.1, continuation=0.9, novelty=0.2, active=60, span=150)
    batch_job = _profile(20_000, cot=0.0, continuation=0.0, novelty=1.0, active=100, span=160, templates=2)
    context = pa.table({"category": ["research"] * 4, "verification": ["email"] * 4})
    risk, evidence = score_accounts(_table([harvester, rerun_benchmark, agentic, batch_job]), context)
    assert risk[0] >= 0.7
    assert (risk[1:] < 0.7).all(), risk
    reasons = [e.reason for e in evidence[0]]
    assert any("of 2,000 requests ask in words for the full reasoning" in r for r in reasons), reasons


def test_pooled_accounts_add_coordination() -> None:
    member = _profile(300, cot=0.5, continuation=0.0, novelty=1.0, active=20, span=40)
    single = _table([member])
    pooled = single.append_column("n_accounts", pa.array([200]))
    shipped = default_weights()
    alone, _ = score_accounts(single, CONTEXT.slice(0, 1))
    together, _ = score_accounts(pooled, CONTEXT.slice(0, 1))
    assert together[0] >= alone[0]
    strong = shipped.model_copy(update={"weights": {**shipped.weights, "coordination": 2.0}})
    boosted, evidence = score_accounts(pooled, CONTEXT.slice(0, 1), weights=strong)
    assert boosted[0] > together[0]
    assert any("200 accounts linked" in e.reason for e in evidence[0])


def test_a_fleet_of_new_linked_accounts_is_riskier_than_an_old_team_and_says_so() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    member = _profile(120, cot=0.8, continuation=0.0, novelty=1.0, active=2, span=2)
    pooled = _table([member, member]).append_column("n_accounts", pa.array([40, 40]))
    pooled = pooled.append_column("first_seen", pa.array([start, start], pa.timestamp("us", tz="UTC")))
    context = pa.table({
        "category": ["research"] * 2, "verification": ["email"] * 2,
        "created_at": pa.array([start - timedelta(hours=20), start - timedelta(days=400)], pa.timestamp("us", tz="UTC")),
    })
    risk, evidence = score_accounts(pooled, context, weights=default_weights("campaign"))
    assert risk[0] > risk[1]
    assert any("40 linked accounts first used 20 h after creation" in e.reason for e in evidence[0]), evidence[0]
    # a single account's youth alone counts for nothing: new users are common
    alone = _table([member]).append_column("first_seen", pa.array([start], pa.timestamp("us", tz="UTC")))
    young, _ = score_accounts(alone, context.slice(0, 1), weights=default_weights("campaign"))
    old, _ = score_accounts(alone, context.slice(1, 1), weights=default_weights("campaign"))
    assert young[0] == pytest.approx(old[0])


def test_a_fleet_mostly_created_after_its_first_request_is_described_as_such() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    member = _profile(120, cot=0.8, continuation=0.0, novelty=1.0, active=2, span=2)
    pooled = _table([member]).append_column("n_accounts", pa.array([40]))
    pooled = pooled.append_column("first_seen", pa.array([start], pa.timestamp("us", tz="UTC")))
    context = pa.table({"category": ["research"], "verification": ["email"],
                        "created_at": pa.array([start + timedelta(hours=29)], pa.timestamp("us", tz="UTC"))})
    _, evidence = score_accounts(pooled, context, weights=default_weights("campaign"))
    reasons = [e.reason for e in evidence[0]]
    assert "40 linked accounts first used while most of them were still being created" in reasons, reasons
