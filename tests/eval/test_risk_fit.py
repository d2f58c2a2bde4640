"""Fitting the account risk weights: sign constraints, balanced groups, pooled groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts import AccountStats, IpIntel, score_accounts
from distillguard.accounts.risk import POPULATION_COLUMNS, TERM_SIGNS
from distillguard.campaigns import pooled_context, pooled_features
from distillguard.eval.inputs import Labels, read_labels
from distillguard.eval.risk_fit import (
    EVIDENCE_FLOOR_NATS,
    SNAPSHOT_HOURS,
    AccountSample,
    fit_weights,
    load_samples,
    pooled_groups,
    reviewed_by_standing,
    sample_weights,
    set_bias_for_budget,
    set_evidence_bias,
    snapshot_times,
)
from distillguard.ingest import read_accounts, read_exchanges
from distillguard.policy import load_policy


def _sample(seed: int) -> AccountSample:
    rng = np.random.default_rng(seed)
    rows, attack, group = [], [], []
    for kind, count in (("campaign-a", 10), ("individual", 60), ("agentic_dev", 10)):
        for _ in range(count):
            is_attack = kind.startswith("campaign")
            rows.append({
                "n_exchanges": int(rng.integers(60, 400)),
                "continuation_share": rng.uniform(0.0, 0.1) if is_attack else rng.uniform(0.3, 0.9), "tool_loop_share": 0.0,
                "prompt_novelty": rng.uniform(0.9, 1.0), "active_hours": rng.uniform(10, 100),
                "span_hours": 120.0, "cot_share": rng.uniform(0.7, 1.0) if is_attack else rng.uniform(0.0, 0.3),
                "reasoning_param_share": rng.uniform(0, 1), "mean_reasoning_share": rng.uniform(0, 1),
                "mean_output_len": 300.0, "hour_entropy": rng.uniform(2, 4.5), "capability_concentration": rng.uniform(0.3, 1),
                "cap_general": rng.uniform(0, 0.5), "ip_rotation": 0.01, "datacenter_share": rng.uniform(0, 1),
                "vpn_share": 0.0, "tor_share": 0.0, "distinct_templates": 30.0, "top_capability": "reasoning",
            })
            row = rows[-1]
            row["tasks"] = row["n_exchanges"] * (1.0 - row["continuation_share"])
            row["elicited_tasks"] = row["tasks"] * row["cot_share"]
            row["distinct_tasks"] = row["tasks"] * row["prompt_novelty"]
            row["budget_tasks"] = 0.0
            row["either_tasks"] = row["elicited_tasks"]
            attack.append(is_attack)
            group.append(kind)
    n = len(rows)
    context = pa.table({"category": ["research"] * n, "verification": ["email"] * n})
    features = pa.Table.from_pylist(rows)
    return AccountSample(features, context, np.array(attack), np.array(group, object), np.array(group, object),
                         features.column("n_exchanges").to_numpy(), np.array([""] * n, object))


def test_fit_keeps_each_weight_on_its_side_and_separates_the_classes() -> None:
    train, test = _sample(1), _sample(2)
    weights = fit_weights([train], TERM_SIGNS, l2=0.001)
    assert set(weights.weights) == set(TERM_SIGNS)
    assert all(v * TERM_SIGNS[name] >= 0 for name, v in weights.weights.items())
    assert weights.weights["cot_elicitation"] > 0 and weights.weights["conversation"] < 0
    risk, _ = score_accounts(test.features, test.context, weights=weights)
    assert risk[test.is_attack].min() > risk[~test.is_attack].max()


def test_bias_keeps_every_legitimate_calibration_account_under_the_flag_risk() -> None:
    train = _sample(1)
    fitted = fit_weights([train], TERM_SIGNS, l2=0.001)
    for flag_risk in (0.5, 0.7, 0.9):
        weights = set_bias_for_budget(fitted, [train], flag_risk)
        risk, _ = score_accounts(train.features, train.context, weights=weights)
        assert risk[~train.is_attack].max() < flag_risk  # 70 legitimate accounts: the budget allows none over
        assert weights.weights == fitted.weights


def test_sample_weights_give_every_group_the_same_mass() -> None:
    w = sample_weights(_sample(3))
    sample = _sample(3)
    masses = {g: w[sample.group == g].sum() for g in set(sample.group.tolist())}
    assert np.isclose(max(masses.values()), min(masses.values()))
    assert np.isclose(w.sum(), len(w))


def test_pooled_groups_are_teams_by_payment_and_campaigns_whole_and_in_parts() -> None:
    records = [
        {"account_id": f"l{i}", "label": "legit", "population": "agentic_dev", "n_exchanges": 10} for i in range(5)
    ] + [{"account_id": f"a{i}", "label": "attack", "campaign": "C", "n_exchanges": 10} for i in range(8)]
    labels = Labels.from_records(records)
    payments = {"l0": "p1", "l1": "p1", "l2": "p1", "l3": "p2", "l4": None}
    accounts = {r["account_id"]: {"payment_fingerprint": payments.get(r["account_id"], "p9")} for r in records}
    groups = pooled_groups(accounts, labels)
    assert groups["team:p1"] == ["l0", "l1", "l2"]
    assert "team:p2" not in groups  # a lone account is no team
    assert "team:p9" not in groups  # campaign accounts are never a legitimate team
    assert groups["campaign:C"] == [f"a{i}" for i in range(8)]
    parts = [groups[f"campaign:C:{k}"] for k in range(4)]
    assert sorted(a for part in parts for a in part) == groups["campaign:C"]


def test_snapshots_are_the_traffic_as_it_stood_hours_into_each_campaign(tmp_path: Path) -> None:
    from distillguard.sim import load_scenario, simulate

    simulate(load_scenario("smoke"), tmp_path, None)
    times = snapshot_times(tmp_path)
    assert times and all(name.rsplit("+", 1)[1] in {f"{h:g}h" for h in SNAPSHOT_HOURS} for name in times)
    single, pooled = load_samples(tmp_path, IpIntel.load(None), cache=False)
    truncated = pooled.n_exchanges[pooled.snapshot != ""]
    assert set(single.snapshot.tolist()) == set(times) | {""}
    # a snapshot holds exactly the exchanges sent before it
    name, at = min(times.items(), key=lambda item: item[1])
    rows = single.snapshot == name
    sent = sum(
        sum(t < at for t in read.table.column("ts").to_pylist())
        for read in read_exchanges(tmp_path / "exchanges.jsonl")
    )
    assert int(single.n_exchanges[rows].sum()) == sent
    assert int(single.n_exchanges[single.snapshot == ""].sum()) > sent
    assert (truncated > 0).all()
    # snapshot groups are balanced apart from the whole traffic's
    assert {g for g in single.group[rows].tolist()} <= {f"{g}@{name}" for g in single.group[single.snapshot == ""].tolist()}
    # pooled groups are fitted on the account context the campaign layer scores them with
    whole, pooled_whole = single.snapshot == "", pooled.snapshot == ""
    context = single.context.filter(pa.array(whole)).add_column(
        0, "account_id", single.features.filter(pa.array(whole)).column("account_id"))
    records = {r["account_id"]: r for read in read_accounts(tmp_path / "accounts.jsonl") for r in read.table.to_pylist()}
    groups = pooled_groups(records, read_labels(tmp_path / "labels.jsonl"))
    names = pooled.features.filter(pa.array(pooled_whole)).column("account_id").to_pylist()
    seen = set(context.column("account_id").to_pylist())
    members = {g: [a for a in groups[g] if a in seen] for g in names}
    assert pooled.context.filter(pa.array(pooled_whole)).equals(pooled_context(context, members))
    # ... and carry their members' population signals, as the campaign layer pools them
    expected_features = pooled_features(AccountStats(), members, single.features.filter(pa.array(whole)))
    for name in POPULATION_COLUMNS:
        assert pooled.features.filter(pa.array(pooled_whole)).column(name).equals(expected_features.column(name))
    assert pooled.features.column("maxed_reasoning_share").null_count < pooled.features.num_rows


def _evidence_sample(legit_elicited: list[float], verification: list[str], age_days: list[float],
                     category: str = "education") -> AccountSample:
    """Legitimate accounts of ``category``, 100 new tasks each, ``legit_elicited`` of them asking for the reasoning,
    and one attack."""
    n = len(legit_elicited) + 1
    last = datetime(2026, 3, 9, tzinfo=UTC)
    features = pa.table({
        "tasks": [100.0] * n, "elicited_tasks": [*legit_elicited, 90.0], "distinct_tasks": [100.0] * n,
        "budget_tasks": [0.0] * n,
        "either_tasks": [*legit_elicited, 90.0], "last_seen": pa.array([last] * n, pa.timestamp("us", tz="UTC")),
    })
    created = [last - timedelta(days=d) for d in [*age_days, 1.0]]
    context = pa.table({"category": [category] * (n - 1) + ["education"], "verification": [*verification, "email"],
                        "created_at": pa.array(created, pa.timestamp("us", tz="UTC"))})
    attack = np.array([False] * (n - 1) + [True])
    group = np.array(["tutoring"] * (n - 1) + ["campaign"], object)
    return AccountSample(features, context, attack, group, group, np.full(n, 100), np.array([""] * n, object))


def test_counted_evidence_prior_keeps_the_budget_with_a_floor_and_leaves_established_accounts_to_review() -> None:
    weights = fit_weights([_sample(1)], TERM_SIGNS)
    flag = 0.7
    logit = float(np.log(flag / (1 - flag)))
    clean = _evidence_sample([5.0] * 20, ["email"] * 20, [10.0] * 20)
    fitted = set_evidence_bias(weights, [clean], flag, [np.zeros(21, bool)])
    assert fitted.evidence_bias == pytest.approx(logit - EVIDENCE_FLOOR_NATS, abs=1e-3)  # clean data: the floor
    # a young individual account asking for the reasoning on half its tasks sets the threshold above its own evidence
    young = _evidence_sample([5.0] * 19 + [50.0], ["business"] * 20, [10.0] * 20, "individual")
    raised = set_evidence_bias(weights, [young], flag, [reviewed_by_standing(young, load_policy())])
    assert raised.evidence_bias is not None and raised.evidence_bias < logit - 40.0
    # ... an established one is left to the policy's review, and so is a young tutoring product (a cover category,
    # asked to verify again instead of degraded): neither disables the counted evidence for everyone else
    old = _evidence_sample([5.0] * 19 + [50.0], ["business"] * 20, [400.0] * 20, "individual")
    tutoring = _evidence_sample([5.0] * 19 + [50.0], ["business"] * 20, [10.0] * 20)
    for sample in (old, tutoring):
        kept = set_evidence_bias(weights, [sample], flag, [reviewed_by_standing(sample, load_policy())])
        assert kept.evidence_bias == pytest.approx(logit - EVIDENCE_FLOOR_NATS, abs=1e-3)
