"""Risk terms read from population-wide columns: counted where present, missing (not benign) where absent or null."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from distillguard.accounts import score_accounts
from distillguard.accounts.risk import (
    ACCOUNT_RECORD,
    CREATION_TIME,
    POPULATION,
    POPULATION_TERMS,
    TLS_FINGERPRINTS,
    RiskWeights,
    default_weights,
    missing_inputs,
    risk_terms,
)

START = datetime(2026, 3, 2, tzinfo=UTC)
CONTEXT = pa.table({"category": ["individual"] * 3, "verification": ["phone"] * 3,
                    "created_at": pa.array([START] * 3, pa.timestamp("us", tz="UTC"))})


def _features(population: dict[str, list[float | None]] | None) -> pa.Table:
    """Three plain accounts of 200 requests, with ``population`` columns when given."""
    base = {
        "n_exchanges": [200] * 3, "continuation_share": [0.0] * 3, "prompt_novelty": [1.0] * 3,
        "active_hours": [3.0] * 3, "span_hours": [3.0] * 3, "cot_share": [0.0] * 3, "reasoning_param_share": [0.0] * 3,
        "mean_reasoning_share": [0.0] * 3, "mean_output_len": [300.0] * 3, "hour_entropy": [1.5] * 3,
        "capability_concentration": [0.6] * 3, "cap_general": [0.4] * 3, "ip_rotation": [0.01] * 3,
        "datacenter_share": [0.0] * 3, "vpn_share": [0.0] * 3, "tor_share": [0.0] * 3, "distinct_templates": [80.0] * 3,
        "top_capability": ["general"] * 3, "tasks": [200.0] * 3, "elicited_tasks": [0.0] * 3,
        "distinct_tasks": [200.0] * 3, "fresh_tasks": [200.0] * 3, "budget_tasks": [0.0] * 3, "either_tasks": [0.0] * 3,
        "tool_loop_share": [0.0] * 3,
        "first_seen": pa.array([START] * 3, pa.timestamp("us", tz="UTC")),
    }
    columns = {**base, **(population or {})}
    return pa.table({k: v if isinstance(v, pa.Array) else pa.array(v, None if k == "top_capability" else (
        pa.float64() if k != "n_exchanges" else pa.int64())) for k, v in columns.items()})


FULL = {"maxed_reasoning_share": [0.9, 0.0, 0.9], "model_sweep": [0.0, 0.0, 0.0], "reasoning_sweep": [0.0, 0.0, 1.0],
        "client_mismatch_share": [1.0, 0.0, None], "young_exit_excess": [1.0, 0.0, None]}


def _weights() -> RiskWeights:
    """The shipped account weights with the population terms given weight."""
    shipped = default_weights()
    return shipped.model_copy(update={"weights": {**shipped.weights, "maxed_reasoning": 3.0, "parameter_sweep": 1.0,
                                                  "client_mismatch": 3.0, "young_exit": 4.0}})


def test_population_terms_read_their_columns() -> None:
    terms = {t.name: t.values.tolist() for t in risk_terms(_features(FULL), CONTEXT)}
    assert terms["maxed_reasoning"] == [0.9, 0.0, 0.9]
    assert terms["parameter_sweep"] == [0.0, 0.0, 1.0]
    assert terms["client_mismatch"] == [1.0, 0.0, 0.0] and terms["young_exit"] == [1.0, 0.0, 0.0]


def test_population_evidence_raises_the_risk_of_an_otherwise_plain_account() -> None:
    risk, evidence = score_accounts(_features(FULL), CONTEXT, weights=_weights())
    assert risk[0] > 10 * risk[1]
    assert {e.detector for e in evidence[0]} >= {"account.young_exit", "account.client_mismatch",
                                                  "account.maxed_reasoning"}


def test_online_without_a_population_the_terms_are_missing_and_said_so() -> None:
    features = _features(None)
    missing = missing_inputs(features, CONTEXT)
    assert missing[POPULATION].all() and not missing[TLS_FINGERPRINTS].any()
    risk, evidence = score_accounts(features, CONTEXT, weights=_weights())
    reasons = [e.reason for e in evidence[0] if e.detector == "risk.missing_inputs"]
    assert reasons and reasons[0].startswith("no population statistics in the log")
    # missing is not benign: the plain accounts' risk is what the other terms say, rescaled, not pulled down by zeros
    as_zeros, _ = score_accounts(_features({name: [0.0] * 3 for name in (*FULL, "reasoning_sweep")}), CONTEXT,
                                 weights=_weights())
    assert risk[0] == pytest.approx(as_zeros[0], rel=0.5) and risk[0] != as_zeros[0]


def test_null_tls_and_unknown_creation_are_missing_inputs() -> None:
    features = _features(FULL)
    context = CONTEXT.set_column(2, "created_at", pa.array([START, START, None], pa.timestamp("us", tz="UTC")))
    missing = missing_inputs(features, context)
    assert missing[TLS_FINGERPRINTS].tolist() == [False, False, True] and not missing[POPULATION].any()
    assert missing[CREATION_TIME].tolist() == [False, False, True] and not missing[ACCOUNT_RECORD].any()
    _, evidence = score_accounts(features, context, weights=_weights())
    reasons = [e.reason for e in evidence[2] if e.detector == "risk.missing_inputs"]
    assert reasons and reasons[0].startswith("no TLS fingerprints, no account creation time in the log")
    no_records = pa.table({name: pa.nulls(3, CONTEXT.schema.field(name).type) for name in CONTEXT.column_names})
    _, evidence = score_accounts(features, no_records, weights=_weights())
    reasons = [e.reason for e in evidence[2] if e.detector == "risk.missing_inputs"]
    assert reasons and reasons[0].startswith("no account record, no TLS fingerprints in the log")  # said once


@pytest.mark.parametrize("model", ["account", "campaign"])
def test_population_terms_of_weight_zero_change_nothing(model: str) -> None:
    """Terms that weigh 0 neither move the risk nor are said missing when their columns are absent."""
    shipped = default_weights(model)  # type: ignore[arg-type]
    weights = shipped.model_copy(update={"weights": {**shipped.weights, **dict.fromkeys(POPULATION_TERMS, 0.0)}})
    with_population, evidence = score_accounts(_features(FULL), CONTEXT, weights=weights)
    without, evidence_without = score_accounts(_features(None), CONTEXT, weights=weights)
    assert with_population.tolist() == without.tolist()
    assert not [e for found in evidence + evidence_without for e in found if e.detector == "risk.missing_inputs"]


def test_a_pooled_group_is_missing_the_population_its_members_lack() -> None:
    """A pooled group carries its members' population (``pooled_features``): without it, it is missing there as a
    single account is, and the other terms of its side are scaled up; with it, nothing is missing."""
    single = _features(None).set_column(5, "cot_share", pa.array([0.9] * 3))
    bare = single.append_column("n_accounts", pa.array([5] * 3))
    pooled = _features(FULL).set_column(5, "cot_share", pa.array([0.9] * 3)).append_column(
        "n_accounts", pa.array([5] * 3))
    assert missing_inputs(bare, CONTEXT)[POPULATION].all()
    assert not missing_inputs(pooled, CONTEXT)[POPULATION].any()
    _, evidence_bare = score_accounts(bare, CONTEXT, weights=_weights())
    _, evidence_pooled = score_accounts(pooled, CONTEXT, weights=_weights())
    assert all(any(e.detector == "risk.missing_inputs" for e in found) for found in evidence_bare)
    assert not any(e.detector == "risk.missing_inputs" for found in evidence_pooled[:2] for e in found)
