"""Account risk: fitted weights as validated data, scale-free terms, reasons in plain words, missing inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
import yaml

from distillguard.accounts import IpIntel, score_accounts
from distillguard.accounts.risk import (
    ACCOUNT_RECORD,
    ADDRESS_LISTS,
    FULL_DRIVE,
    RESPONSES,
    RETRY_SHARE,
    TERM_SIGNS,
    RiskWeights,
    default_weights,
    elicitation_llr,
    elicitation_nats,
    load_weights,
    missing_inputs,
    risk_terms,
    term_matrix,
)
from distillguard.accounts.sketch import TASK_REGISTERS, SketchKey, hll_add, hll_estimate
from distillguard.analysis import analyze
from distillguard.analysis.stats import POPULATION_COLUMNS
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import load_settings
from distillguard.config.settings import with_overrides
from distillguard.core.errors import ConfigError
from distillguard.core.ids import splitmix64
from distillguard.policy import load_policy


def _profile(n: int, *, cot: float, continuation: float, novelty: float, active: float, span: float,
             datacenter: float = 0.0, templates: float = 50.0) -> dict[str, object]:
    return {
        "n_exchanges": n, "continuation_share": continuation, "tool_loop_share": 0.0, "prompt_novelty": novelty,
        "active_hours": active,
        "span_hours": span, "cot_share": cot, "reasoning_param_share": cot, "mean_reasoning_share": cot * 0.8,
        "mean_output_len": 400.0, "hour_entropy": 4.3 if active >= 24 else 2.0, "capability_concentration": 0.9,
        "cap_general": 0.05,
        "ip_rotation": 0.01, "datacenter_share": datacenter, "vpn_share": 0.0, "tor_share": 0.0,
        "distinct_templates": templates, "top_capability": "reasoning",
        "tasks": n * (1.0 - continuation), "elicited_tasks": n * (1.0 - continuation) * cot * novelty,
        "distinct_tasks": n * (1.0 - continuation) * novelty, "fresh_tasks": n * (1.0 - continuation) * novelty,
        "budget_tasks": 0.0,
        "either_tasks": n * (1.0 - continuation) * cot * novelty,
        **dict.fromkeys(POPULATION_COLUMNS, 0.0),  # as analysis joins them: judged against the population
    }


def _table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows)


CONTEXT = pa.table({"category": ["research", "research"], "verification": ["email", "email"]})


def _logistic(model: str = "account") -> RiskWeights:
    """The shipped model without its counted-evidence detector: the logistic of the terms alone."""
    return default_weights(model).model_copy(update={"evidence_bias": None})  # type: ignore[arg-type]


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


def test_risk_depends_on_shares_and_on_the_count_of_eliciting_tasks_only() -> None:
    harvester = {"cot": 0.95, "continuation": 0.0, "novelty": 1.0, "active": 120.0, "span": 160.0, "datacenter": 1.0}
    small, large = _profile(400, templates=50, **harvester), _profile(40_000, templates=5_000, **harvester)
    risk, _ = score_accounts(_table([small, large]), CONTEXT)
    assert risk[0] >= 0.7 and risk[1] >= 0.7
    nats = elicitation_nats(_table([small, large]))
    assert nats[1] > nats[0] > 100.0  # 38,000 eliciting tasks are more evidence than 380
    shipped = default_weights()
    counts = {"elicitation_evidence": 0.0, "single_template": 0.0}  # counts, not shares (templates per request)
    shares_only = shipped.model_copy(update={"weights": {**shipped.weights, **counts}, "evidence_bias": None})
    risk, _ = score_accounts(_table([small, large]), CONTEXT, weights=shares_only)
    assert 0.0 <= risk[1] - risk[0] < 0.05  # the rest differs only by the evidence factor (0.976 vs 1.000)


def test_the_elicitation_evidence_is_a_likelihood_ratio_of_counts() -> None:
    """Six tasks of six asking for the reasoning say more than six of sixty; a share near the base rate says nothing."""
    llr = elicitation_llr(np.array([6.0, 6.0, 8.0, 0.0]), np.array([6.0, 60.0, 100.0, 50.0]))
    assert llr[0] > 7.0 and llr[1] < 0.0 and llr[2] < 0.0 and llr[3] < 0.0
    assert elicitation_llr(np.array([60.0]), np.array([60.0]))[0] == pytest.approx(10 * llr[0])


def test_an_evaluator_rerunning_its_items_explains_its_elicitation_and_a_harvester_does_not() -> None:
    """Counted evidence is the smaller ratio against an ordinary user and against an evaluator: 600 tasks asking for the
    reasoning over 150 items run four times are an evaluation; 600 over 600 new prompts are a harvest."""
    elicited, tasks = np.array([150.0, 600.0]), np.array([600.0, 600.0])
    llr = elicitation_llr(elicited, tasks, np.array([150.0, 600.0]))
    assert llr[0] < 0.0 < 100.0 < llr[1]
    assert elicitation_llr(elicited, tasks)[0] > 50.0  # against an ordinary user alone, the evaluation looks harvested


def test_the_collisions_of_a_few_dozen_prompts_are_no_reruns_and_a_lab_s_reruns_stay_reruns() -> None:
    """36 new eliciting prompts that the task sketch counts as 33.7 (two standard deviations low: prompts whose hashes
    collide) are still a harvest past the counted bar (more than 12 nats); a lab's 10,000 tasks on 7,000 items (30 %
    reruns) stay an evaluation: the sketch's allowance is capped at 38 reruns, not its 4.6 % error at 7,000 (which
    would make them 24 % and the lab a harvester)."""
    llr = elicitation_llr(np.array([36.0, 10_000.0]), np.array([36.0, 10_000.0]), np.array([33.7, 7_000.0]))
    assert llr[0] > 12.0 and llr[1] < 0.0


def test_a_harvester_of_thousands_of_tasks_is_no_evaluator_under_any_key() -> None:
    """5,741 tasks on 5,118 prompts (an account of ``large``, 11 % reruns), all asking for the reasoning, counted in
    the task sketch under 200 keys: none reads as an evaluator's reruns (the lowest count is 4,641). At 128 registers
    (9 % error) two of these keys count the prompts a fifth low, and the harvester's evidence falls to 0."""
    prompts = splitmix64(np.r_[np.arange(5_118), np.arange(623)])
    tasks = np.array([float(len(prompts))])
    for secret in range(200):
        registers = np.zeros((1, TASK_REGISTERS), np.uint8)
        hll_add(registers, np.zeros(len(prompts), np.int64), SketchKey.from_secret(b"key %d" % secret).hashes(prompts))
        distinct = np.minimum(hll_estimate(registers), tasks)
        assert elicitation_llr(tasks, tasks, distinct)[0] > 1_000.0, (secret, distinct)


def test_a_harvester_splitting_its_asking_between_words_and_budgets_is_counted_on_both() -> None:
    """12 of 100 new tasks ask in words and 50 others by a budget: each channel alone is within an ordinary user's
    reach, together (62 of 100 against an ordinary user's 31 %) they are not; 8 and 25 (33 either way) are."""
    rows = [{**_profile(100, cot=0.0, continuation=0.0, novelty=1.0, active=5, span=5), "elicited_tasks": words,
             "budget_tasks": budgets, "either_tasks": words + budgets} for words, budgets in ((12.0, 50.0), (8.0, 25.0))]
    features = _table(rows)
    nats = elicitation_nats(features)
    assert nats[0] > 10.0 and nats[1] == 0.0, nats
    alone = [elicitation_nats(features.set_column(features.schema.get_field_index("either_tasks"), "either_tasks",
                                                  pa.array([value, value])))[0] for value in (12.0, 50.0)]
    assert alone == [0.0, 0.0]


def test_a_linked_group_diluting_its_harvest_with_resold_chat_is_counted_and_a_single_account_is_not() -> None:
    """Half of 2,800 new tasks ask for the reasoning either way: under a harvester's 75 % and over an ordinary user's
    31 %. A reseller network mixing its customers' chat into its harvest shows that share; linked, it is counted, as
    one account it is not (an app that turns thinking on for half its tasks). A group at the base rate is not."""
    row = {**_profile(2_800, cot=0.0, continuation=0.0, novelty=1.0, active=60, span=70), "budget_tasks": 1_400.0,
           "either_tasks": 1_400.0}
    base = {**row, "budget_tasks": 870.0, "either_tasks": 870.0}
    single = _table([row, base])
    pooled = single.append_column("n_accounts", pa.array([390, 390]))
    assert elicitation_nats(single).tolist() == [0.0, 0.0]
    nats = elicitation_nats(pooled)
    assert nats[0] > 100.0 and nats[1] == 0.0, nats
    rerun = pooled.set_column(pooled.schema.get_field_index("distinct_tasks"), "distinct_tasks",
                              pa.array([1_000.0, 1_000.0]))
    assert elicitation_nats(rerun)[0] == 0.0  # an evaluation team rerunning its items is not a harvest


def test_reasoning_shares_are_discounted_by_an_accounts_reruns_not_its_retries_nor_a_groups_corpus() -> None:
    """An evaluator asking for the reasoning on 150 items run four times shows under a third of a harvester's
    reasoning shares, and its reasons say so; a harvester retrying a tenth of its tasks keeps its whole shares, and
    so does a pooled fleet repeating its corpus across accounts. A pooled team whose members each rerun their items
    is discounted as each of them would be."""
    harvester = _profile(600, cot=0.95, continuation=0.0, novelty=1.0, active=20, span=40)
    evaluator = {**harvester, "distinct_tasks": 150.0, "fresh_tasks": 150.0}
    retrying = {**harvester, "distinct_tasks": 540.0, "fresh_tasks": 540.0}
    names = ("cot_elicitation", "reasoning_parameters", "reasoning_harvest")
    singles = _table([harvester, evaluator, retrying])
    terms = {t.name: t.values for t in risk_terms(singles) if t.name in names}
    for name in names:
        assert terms[name][1] == pytest.approx(terms[name][0] * 0.25 / (1.0 - RETRY_SHARE))
        assert terms[name][2] == pytest.approx(terms[name][0])
    heavy = default_weights().model_copy(update={"weights": {**default_weights().weights, "cot_elicitation": 4.0}})
    context = pa.table({"category": ["research"] * 3, "verification": ["email"] * 3})
    _, evidence = score_accounts(singles, context, weights=heavy)
    assert "discounted: 25% of its tasks fresh" in " ".join(e.reason for e in evidence[1]), evidence[1]
    assert all("tasks fresh" not in e.reason for e in evidence[0] + evidence[2])
    fleet = singles.set_column(singles.schema.get_field_index("fresh_tasks"), "fresh_tasks",
                               pa.array([600.0, 600.0, 150.0]))  # the fleet's members repeat only one another
    pooled = fleet.append_column("n_accounts", pa.array([50, 50, 50]))
    grouped = {t.name: t.values for t in risk_terms(pooled) if t.name in names}
    for name in names:
        assert grouped[name][1] == pytest.approx(grouped[name][0])
        assert grouped[name][2] == pytest.approx(grouped[name][0] * 0.25 / (1.0 - RETRY_SHARE))


def test_counted_evidence_acts_on_a_short_lived_account_alone() -> None:
    """Twenty new tasks of twenty asking for the reasoning, in a log without account records or responses: the counted
    evidence decides (its reason first); eight of eighty, or a thinking budget on a third of the tasks, do not."""
    short = {**_profile(20, cot=0.95, continuation=0.0, novelty=1.0, active=1, span=0), "mean_output_len": 0.0}
    diluted = {**_profile(80, cot=0.1, continuation=0.0, novelty=1.0, active=3, span=3), "mean_output_len": 0.0}
    budgets = {**_profile(90, cot=0.0, continuation=0.0, novelty=1.0, active=3, span=3), "budget_tasks": 30.0,
               "either_tasks": 30.0}
    features = _table([short, diluted, budgets])
    shipped = default_weights()
    off = shipped.model_copy(update={"evidence_bias": None})
    on = shipped.model_copy(update={"evidence_bias": float(np.log(0.7 / 0.3)) - 10.0})
    without, _ = score_accounts(features, weights=off)
    risk, evidence = score_accounts(features, weights=on)
    assert risk[0] >= 0.7 > without[0], (risk, without)
    assert evidence[0][0].detector == "account.counted_elicitation"
    assert evidence[0][0].reason.startswith("19 of 20 new tasks ask for the full reasoning: 12 nats"), evidence[0][0]
    assert risk[1] == pytest.approx(without[1]) and risk[2] == pytest.approx(without[2])
    assert all(e.detector != "account.counted_elicitation" for e in evidence[1] + evidence[2])


def test_tasks_that_open_with_a_large_thinking_budget_count_against_their_own_base_rate() -> None:
    """Apps turn thinking on for a share of their users' tasks; a harvester asking only through the parameters turns it
    on for nearly all of them."""
    rows = [{**_profile(100, cot=0.0, continuation=0.0, novelty=1.0, active=5, span=5), "budget_tasks": k,
             "either_tasks": k}
            for k in (30.0, 95.0)]
    nats = elicitation_nats(_table(rows))
    assert nats[0] == 0.0 and nats[1] > 50.0


def test_hard_negatives_score_below_a_harvester() -> None:
    harvester = _profile(2_000, cot=0.95, continuation=0.0, novelty=1.0, active=140, span=160, datacenter=1.0)
    rerun_benchmark = _profile(1_200, cot=0.95, continuation=0.0, novelty=0.3, active=4, span=4, datacenter=1.0)
    agentic = _profile(3_000, cot=0.1, continuation=0.9, novelty=0.2, active=60, span=150)
    batch_job = _profile(20_000, cot=0.0, continuation=0.0, novelty=1.0, active=100, span=160, templates=2)
    context = pa.table({"category": ["research"] * 4, "verification": ["email"] * 4})
    risk, evidence = score_accounts(_table([harvester, rerun_benchmark, agentic, batch_job]), context)
    assert risk[0] >= 0.7
    assert (risk[1:] < 0.7).all(), risk
    assert evidence[0] and all(e.detector.startswith("account.") for e in evidence[0])


def test_pooled_accounts_add_coordination() -> None:
    member = _profile(300, cot=0.5, continuation=0.0, novelty=1.0, active=20, span=40)
    single = _table([member])
    pooled = single.append_column("n_accounts", pa.array([200]))
    shipped = _logistic()
    alone, _ = score_accounts(single, CONTEXT.slice(0, 1), weights=shipped)
    together, _ = score_accounts(pooled, CONTEXT.slice(0, 1), weights=shipped)
    assert together[0] >= alone[0]
    strong = shipped.model_copy(update={"weights": {**shipped.weights, "coordination": 2.0}})
    boosted, evidence = score_accounts(pooled, CONTEXT.slice(0, 1), weights=strong)
    assert boosted[0] > together[0]
    assert any("200 linked accounts send tasks without follow-ups" in e.reason for e in evidence[0])


def test_linked_accounts_that_chat_are_no_fleet_however_young() -> None:
    """Coordination counts as far as the group's traffic is what a harvester wants: an app's users behind one carrier
    NAT, signed up together, follow up on their answers; a fleet runs new prompts, one-shot or through tool loops."""
    start = datetime(2026, 3, 2, tzinfo=UTC)
    chat = _profile(300, cot=0.0, continuation=0.8, novelty=1.0, active=20, span=40)
    one_shot = _profile(300, cot=0.0, continuation=0.0, novelty=1.0, active=20, span=40)
    tool_loops = {**_profile(300, cot=0.0, continuation=0.8, novelty=1.0, active=20, span=40), "tool_loop_share": 0.8}
    # thousands of burners drawing on one corpus repeat each other's prompts: pooled, few tasks are new
    corpus_fleet = _profile(300, cot=0.0, continuation=0.0, novelty=0.1, active=20, span=40)
    pooled = _table([chat, one_shot, tool_loops, corpus_fleet]).append_column(
        "n_accounts", pa.array([200] * 4)).append_column("first_seen", pa.array([start] * 4, pa.timestamp("us", tz="UTC")))
    context = pa.table({"category": ["individual"] * 4, "verification": ["email"] * 4,
                        "created_at": pa.array([start - timedelta(hours=2)] * 4, pa.timestamp("us", tz="UTC"))})
    terms = {t.name: t.values for t in risk_terms(pooled, context)}
    for name in ("coordination", "young_fleet"):
        assert terms[name][0] == pytest.approx(0.2 / FULL_DRIVE * terms[name][1])  # a fifth of its traffic is new
        assert terms[name][2] == pytest.approx(terms[name][1]) and terms[name][1] > 0.9
        assert terms[name][3] == pytest.approx(terms[name][1])
    risk, _ = score_accounts(pooled, context, weights=_logistic("campaign"))
    assert risk[0] < risk[1] and risk[0] < risk[2]


def test_a_fleet_of_new_linked_accounts_is_riskier_than_an_old_team_and_says_so() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    member = _profile(120, cot=0.8, continuation=0.0, novelty=1.0, active=2, span=2)
    pooled = _table([member, member]).append_column("n_accounts", pa.array([40, 40]))
    pooled = pooled.append_column("first_seen", pa.array([start, start], pa.timestamp("us", tz="UTC")))
    context = pa.table({
        "category": ["research"] * 2, "verification": ["email"] * 2,
        "created_at": pa.array([start - timedelta(hours=20), start - timedelta(days=400)], pa.timestamp("us", tz="UTC")),
    })
    risk, evidence = score_accounts(pooled, context, weights=_logistic("campaign"))
    assert risk[0] > risk[1]
    assert any("40 linked accounts first used 20 h after creation" in e.reason for e in evidence[0]), evidence[0]
    # a single account's youth alone counts for nothing: new users are common
    alone = _table([member]).append_column("first_seen", pa.array([start], pa.timestamp("us", tz="UTC")))
    young, _ = score_accounts(alone, context.slice(0, 1), weights=_logistic("campaign"))
    old, _ = score_accounts(alone, context.slice(1, 1), weights=_logistic("campaign"))
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


# --- missing inputs ---------------------------------------------------------------------------------------------

START = datetime(2026, 3, 2, tzinfo=UTC)
COMPLETE = _table([
    _profile(2_000, cot=0.95, continuation=0.0, novelty=1.0, active=140, span=160, datacenter=1.0),
    _profile(1_200, cot=0.95, continuation=0.0, novelty=0.3, active=4, span=4, datacenter=1.0),
    _profile(3_000, cot=0.1, continuation=0.9, novelty=0.2, active=60, span=150),
    _profile(20_000, cot=0.0, continuation=0.0, novelty=1.0, active=100, span=160, templates=2),
    _profile(120, cot=0.8, continuation=0.0, novelty=1.0, active=2, span=2),
    _profile(6, cot=0.5, continuation=0.5, novelty=1.0, active=1, span=0.2),
]).append_column("n_accounts", pa.array([1, 1, 1, 1, 40, 3])).append_column(
    "first_seen", pa.array([START] * 6, pa.timestamp("us", tz="UTC")))
COMPLETE_CONTEXT = pa.table({
    "category": ["research", "education", "individual", "enterprise", "startup", "individual"],
    "verification": ["email", "phone", "business", None, "none", "email"],  # a record without verification is weak
    "created_at": pa.array([START - timedelta(days=d) for d in (400, 3, 90, 700, 1, 30)], pa.timestamp("us", tz="UTC")),
})
NO_RECORDS = pa.table({"category": pa.array([None, None], pa.string()),  # as analysis builds it without records
                       "verification": pa.array([None, None], pa.string()),
                       "created_at": pa.array([None, None], pa.timestamp("us", tz="UTC"))})


def _request_only(n: int, *, cot: float, active: float, datacenter: float = 0.0) -> dict[str, object]:
    """A fingerprint from requests alone: no output seen, so no reasoning share; ``active`` hours round the clock."""
    return {**_profile(n, cot=cot, continuation=0.0, novelty=1.0, active=active, span=active, datacenter=datacenter),
            "reasoning_param_share": 0.0, "mean_reasoning_share": 0.0, "mean_output_len": 0.0,
            "hour_entropy": float(np.log2(active)), "first_seen": START}


@pytest.mark.parametrize("model", ["account", "campaign"])
def test_complete_logs_score_the_plain_logistic_model(model: str) -> None:
    """Nothing missing: every factor is 1, the risk is the logistic of the weighted terms (as the fit computes it)."""
    weights = _logistic(model)
    risk, evidence = score_accounts(COMPLETE, COMPLETE_CONTEXT, weights=weights)
    terms = risk_terms(COMPLETE, COMPLETE_CONTEXT)
    logit = term_matrix(terms, COMPLETE) @ np.array([weights.weights[t.name] for t in terms]) + weights.bias
    assert risk.tolist() == pytest.approx((1.0 / (1.0 + np.exp(-logit))).tolist(), rel=1e-12, abs=0.0)
    assert not [e for found in evidence for e in found if e.detector == "risk.missing_inputs"]


def test_missing_inputs_are_read_from_the_fingerprint_and_the_account_records() -> None:
    features = _table([_request_only(50, cot=1.0, active=5), _profile(50, cot=0.0, continuation=0.5, novelty=1.0,
                                                                       active=5, span=5)])
    context = pa.table({"category": pa.array([None, "individual"], pa.string()),
                        "verification": pa.array([None, None], pa.string())})
    missing = missing_inputs(features, context)
    assert missing[RESPONSES].tolist() == [True, False]
    assert missing[ACCOUNT_RECORD].tolist() == [True, False]  # a record without a verification level is a record
    assert missing_inputs(features, None)[ACCOUNT_RECORD].tolist() == [True, True]


def test_unknown_address_lists_count_neither_as_benign_nor_as_anonymised() -> None:
    """Without VPN and Tor exit lists, traffic not found on a known exit may still be anonymised: that part of the
    anonymiser term is renormalised away, the part found anonymised counts, and the reason says the lists were
    missing."""
    profile = {**_profile(2_000, cot=0.95, continuation=0.0, novelty=1.0, active=140, span=160), "first_seen": START}
    rows = [{**profile, "unlisted_share": 1.0}, {**profile, "unlisted_share": 0.0},
            {**profile, "vpn_share": 0.3, "unlisted_share": 0.7}, {**profile, "vpn_share": 0.3, "unlisted_share": 0.0}]
    features = _table(rows)
    context = pa.table({name: [COMPLETE_CONTEXT.column(name)[0]] * 4 for name in COMPLETE_CONTEXT.column_names})
    assert missing_inputs(features, context)[ADDRESS_LISTS].tolist() == [True, False, True, False]
    w = _logistic()
    risk, evidence = score_accounts(features, context, weights=w)
    assert risk[1] < risk[0], risk  # unknown is not read as benign
    assert risk[3] < risk[2], risk  # 30 % found on VPN exits: at least that, the rest unknown
    # the known part counts, the unknown part is imputed from the side's present terms per unit of weight
    terms = risk_terms(features, context)
    contrib = term_matrix(terms, features) * np.array([w.weights[t.name] for t in terms])
    distill = np.array([t.sign > 0 for t in terms])
    total = sum(w.weights[t.name] for t in terms if t.sign > 0)
    scale = total / (total - 0.7 * w.weights["anonymiser"])
    logit = contrib[2, distill].sum() * scale + contrib[2, ~distill].sum() + w.bias
    assert risk[2] == pytest.approx(1.0 / (1.0 + np.exp(-logit)), rel=1e-12)
    reasons = [[e.reason for e in found if e.detector == "risk.missing_inputs"] for found in evidence]
    assert reasons[1] == reasons[3] == []
    assert reasons[2] == [f"no VPN or Tor exit lists (intel directory): risk from the other inputs only "
                          f"(distillation evidence x{scale:.2f})"]


def test_request_side_evidence_is_renormalised_over_the_inputs_present() -> None:
    harvester = _request_only(1_000, cot=1.0, active=24)  # asks for the full reasoning on every request, all day
    benign = _request_only(1_000, cot=0.0, active=24, datacenter=1.0)  # a round-the-clock batch job
    w = _logistic()
    risk, evidence = score_accounts(_table([harvester, benign]), NO_RECORDS, weights=w)
    assert risk[0] > risk[1], risk
    # read as zeros (no reasoning in the output, an ordinary verified account), the same inputs score lower
    as_zeros = _table([{**harvester, "mean_output_len": 300.0}])
    zeros, _ = score_accounts(as_zeros, pa.table({"category": ["individual"], "verification": ["phone"]}), weights=w)
    assert zeros[0] < risk[0]
    # the distillation side's present evidence, rescaled by its weight mass over the mass present
    absent = {"reasoning_harvest", "cover_category", "weak_verification"}
    distill = {name: v for name, v in w.weights.items() if TERM_SIGNS[name] > 0}
    scale = sum(distill.values()) / sum(v for name, v in distill.items() if name not in absent)
    found = risk_terms(_table([harvester]), NO_RECORDS.slice(0, 1))
    terms = dict(zip([t.name for t in found], term_matrix(found, _table([harvester]))[0]))  # evidence factor applied
    for_it = sum(w.weights[name] * terms[name] for name in distill if name not in absent)
    against = sum(w.weights[name] * terms[name] for name in w.weights if TERM_SIGNS[name] < 0)
    logit = for_it * scale + against + w.bias
    assert risk[0] == pytest.approx(1.0 / (1.0 + np.exp(-logit)), rel=1e-12)
    missing = [e for e in evidence[0] if e.detector == "risk.missing_inputs"]
    assert [e.reason for e in missing] == [
        f"no responses, no account record in the log: risk from the request side only (distillation evidence x{scale:.2f})"]
    mass = sum(abs(v) for v in w.weights.values())
    assert missing[0].score == pytest.approx(sum(w.weights[name] for name in absent) / mass)
    assert evidence[0][-1] is missing[0]  # after the reasons of the risk


def test_the_missing_inputs_evidence_names_only_what_is_missing() -> None:
    features = _table([_request_only(200, cot=1.0, active=10), {**_request_only(200, cot=1.0, active=10),
                                                                  "mean_output_len": 250.0}])
    context = pa.table({"category": pa.array(["research", None], pa.string()),
                        "verification": pa.array(["email", None], pa.string())})
    _, evidence = score_accounts(features, context)
    reasons = [[e.reason for e in found if e.detector == "risk.missing_inputs"] for found in evidence]
    assert reasons[0][0].startswith("no responses in the log: risk from the requests and the account record only")
    assert reasons[1][0].startswith("no account record in the log: risk from the traffic only")
    # a model that gives no weight to the reasoning share: only the missing record is said
    pooled = features.append_column("n_accounts", pa.array([30, 30]))
    campaign = default_weights("campaign")
    no_share = campaign.model_copy(update={"weights": {**campaign.weights, "reasoning_harvest": 0.0}})
    _, pooled_evidence = score_accounts(pooled, context, weights=no_share)
    assert not [e for e in pooled_evidence[0] if e.detector == "risk.missing_inputs"]
    assert [e.reason.split(":")[0] for e in pooled_evidence[1] if e.detector == "risk.missing_inputs"] == [
        "no account record in the log"]


def test_a_young_fleet_without_records_is_unknown_not_young() -> None:
    member = _profile(120, cot=0.8, continuation=0.0, novelty=1.0, active=2, span=2)
    pooled = _table([member]).append_column("n_accounts", pa.array([40])).append_column(
        "first_seen", pa.array([START], pa.timestamp("us", tz="UTC")))
    weights = _logistic("campaign")
    unknown, evidence = score_accounts(pooled, NO_RECORDS.slice(0, 1), weights=weights)
    assert not [e for e in evidence[0] if e.detector == "account.young_fleet"]
    known = NO_RECORDS.slice(0, 1).set_column(2, "created_at", pa.array([START - timedelta(hours=20)],
                                                                          pa.timestamp("us", tz="UTC")))
    # a record with a creation time but no category or verification: the youth counts, the record is there
    young, _ = score_accounts(pooled, known, weights=weights)
    assert young[0] > unknown[0]
    # a record without a creation time: the youth is unknown (0), not "created after its first request"
    undated = pa.table({"category": ["research"], "verification": ["email"],
                        "created_at": pa.array([None], pa.timestamp("us", tz="UTC"))})
    _, undated_evidence = score_accounts(pooled, undated, weights=weights)
    assert not [e for e in undated_evidence[0] if e.detector == "account.young_fleet"]


COT_ASKS = [
    "Think step by step and show your complete reasoning before the final answer: {q}",
    "Explain your full chain of thought in detail before answering. {q}",
    "Show all of your reasoning, every intermediate step, then give the final answer: {q}",
]
QUESTIONS = [
    "what is {a} times {b}?", "is {a}{b} a prime number?", "how many ways can {a} people sit around a table?",
    "a train travels {a} km in {b} hours; what is its average speed?", "what is the sum of the first {a} odd numbers?",
]


def _request_only_log(path: Path, minutes: float = 6) -> Path:
    """Two accounts' traffic whose responses were redacted (only their stop reason kept), no TLS fields: a harvester
    sending a request every ``minutes`` and a traveller's conversations in office hours."""
    records = []
    for k in range(480):  # a new one-shot question asking for the full reasoning
        question = QUESTIONS[k % len(QUESTIONS)].format(a=k + 3, b=k % 7 + 2)
        records.append({"account_id": "acct_harvest", "ip": "198.51.100.7", "user_agent": "python-httpx/0.27.2",
                        "ts": (START + timedelta(minutes=minutes * k)).isoformat(),
                        "prompt": COT_ASKS[k % len(COT_ASKS)].format(q=question)})
    for k in range(60):  # follow-up conversations in office hours
        turns = [{"role": "user", "content": f"Can you help me plan a trip to city number {k}?"},
                 {"role": "assistant", "content": "Sure: when would you like to go?"},
                 {"role": "user", "content": "Next month, for a week."}]
        records.append({"account_id": "acct_travel", "ip": "203.0.113.20", "user_agent": "Mozilla/5.0",
                        "ts": (START + timedelta(hours=8 + k // 10, minutes=5 * (k % 10))).isoformat(), "turns": turns})
    lines = []
    for i, r in enumerate(records):
        messages = r.pop("turns", None) or [{"role": "user", "content": r.pop("prompt")}]
        lines.append({**r, "request_id": f"req_{i}", "endpoint": "/v1/messages", "model": "atlas-2-pro",
                      "request": {"model": "atlas-2-pro", "max_tokens": 1024, "messages": messages},
                      "response": {"stop_reason": "end_turn"}})
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


@pytest.mark.parametrize("minutes", [6, 0.1])
def test_the_pipeline_flags_a_harvester_from_a_request_only_log(tmp_path: Path, minutes: float) -> None:
    """Request-only logs, over two days or under an hour (480 requests 6 s apart): the counted evidence flags the
    harvester; what the log lacks is said, and the traveller is left alone."""
    log = _request_only_log(tmp_path / "exchanges.jsonl", minutes)
    settings = with_overrides(load_settings(None, environ={}), "test", db=tmp_path / "store.duckdb")
    result = analyze(settings, load_policy(), load_campaign_settings(None), IpIntel(), [log], [], tmp_path / "out")
    assert result.assessment is not None
    decisions = {d.account_id: d for d in result.assessment.decisions}
    harvester, traveller = decisions["acct_harvest"], decisions["acct_travel"]
    assert harvester.risk >= 0.9 and harvester.action.flags, harvester
    assert harvester.evidence[0].detector == "account.counted_elicitation", harvester
    assert traveller.risk < 0.05 and traveller.action == "allow", traveller
    for decision in (harvester, traveller):  # no intel directory: no VPN or Tor list to read the addresses against
        assert decision.reasons[-1].startswith("no responses, no account record, no TLS fingerprints in the log; "
                                               "no VPN or Tor exit lists (intel directory): risk from the request side")


def test_a_groups_reruns_are_its_members_own_not_prompts_one_member_repeats_from_another() -> None:
    """A fleet of 200 accounts drawing on one corpus sends half its one-shot prompts after another member did: as a
    group it shows a novelty of 0.5, yet no member reran anything, so it earns no benchmark-rerun credit and its
    sweep counts in full. An evaluation team of five whose members rerun their items (200 of its 800 tasks on a
    prompt their member had not sent) keeps the credit a single evaluator has; a single account is judged on its
    own prompts as before."""
    sweep = _profile(800, cot=0.0, continuation=0.0, novelty=0.5, active=30, span=40)
    fleet = {**sweep, "fresh_tasks": 800.0}
    team = {**sweep, "prompt_novelty": 0.25, "distinct_tasks": 150.0, "fresh_tasks": 200.0}
    table = _table([fleet, team])
    pooled = table.append_column("n_accounts", pa.array([200, 5]))
    single = {t.name: t.values for t in risk_terms(table)}
    grouped = {t.name: t.values for t in risk_terms(pooled)}
    assert single["rerun"][0] == pytest.approx(0.5) and single["one_shot_sweep"][0] == pytest.approx(0.5)
    assert grouped["rerun"][0] == pytest.approx(0.0) and grouped["one_shot_sweep"][0] == pytest.approx(1.0)
    assert grouped["rerun"][1] == pytest.approx(0.75)


def test_reported_detectors_are_reasons_wherever_they_count() -> None:
    """A policy reads a detector in the evidence (``report``): it is there even behind three stronger reasons, as
    long as it counts; the risk does not change."""
    rotating_vpn = {**_profile(400, cot=0.95, continuation=0.0, novelty=1.0, active=120.0, span=160.0,
                               datacenter=1.0), "ip_rotation": 0.9, "vpn_share": 0.5}
    features, context = _table([rotating_vpn]), CONTEXT.slice(0, 1)
    risk, (plain,) = score_accounts(features, context, weights=_logistic())
    top = [e.detector for e in plain]
    assert len(top) == 3 and "account.anonymiser" not in top
    read = {"account.anonymiser", "account.client_mismatch"}  # a VPN exit counts; a client that matches does not
    again, (reported,) = score_accounts(features, context, weights=_logistic(), report=read)
    assert [e.detector for e in reported] == [*top, "account.anonymiser"]
    assert reported[:3] == plain
    assert again.tolist() == risk.tolist()
