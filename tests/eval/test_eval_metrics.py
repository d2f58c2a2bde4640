"""Hand-computed metric cases on the reference world of conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalworld import WORLD_LABELS, exchange_table, iso, world_exchanges, write_jsonl

from distillguard.eval.inputs import EvalInputError, Labels, exchange_log_from_tables
from distillguard.eval.metrics import evaluate_predictions, score

ATTACKS = ("a1", "a2", "a3", "a4")
LEGIT = ("l1", "l2", "l3", "l4", "l5", "l6")
PERFECT = {
    "a1": (True, "P1", iso(0)),
    "a2": (True, "P1", iso(0)),
    "a3": (True, "P1", iso(0)),
    "a4": (True, "P2", iso(0)),
    **{a: (False, None, None) for a in LEGIT},
}

CASES = {
    "perfect": (
        PERFECT,
        dict(precision=1.0, recall=1.0, fpr=0.0, ewr=1.0, ari=1.0, worst=("individual", 0, 4),
             ttd={"C1": 0.0, "C2": 0.0}, median=0.0, degraded=(0, 30), missing=0, unknown=0),
    ),
    "all flagged, no campaigns or times": (
        {a: (True, None, None) for a in ATTACKS + LEGIT},
        dict(precision=0.4, recall=1.0, fpr=1.0, ewr=1.0, ari=0.0, worst=("individual", 4, 4),
             ttd={"C1": 1.0, "C2": 1.0}, median=1.0, degraded=(30, 30), missing=0, unknown=0),
    ),
    "none flagged": (
        {a: (False, None, None) for a in ATTACKS + LEGIT},
        dict(precision=None, recall=0.0, fpr=0.0, ewr=0.0, ari=None, worst=("individual", 0, 4),
             ttd={"C1": None, "C2": None}, median=1.0, degraded=(0, 30), missing=0, unknown=0),
    ),
    "campaign split in two": (
        {**PERFECT, "a3": (True, "P3", iso(0))},
        dict(precision=1.0, recall=1.0, fpr=0.0, ewr=1.0, ari=1 / 3, worst=("individual", 0, 4),
             ttd={"C1": 0.0, "C2": 0.0}, median=0.0, degraded=(0, 30), missing=0, unknown=0),
    ),
    "legit flagged mid-way and without time": (
        {**PERFECT, "l1": (True, None, iso(2)), "l5": (True, None, None)},
        dict(precision=4 / 6, recall=1.0, fpr=2 / 6, ewr=1.0, ari=1.0, worst=("students", 1, 2),
             ttd={"C1": 0.0, "C2": 0.0}, median=0.0, degraded=(3 + 5, 30), missing=0, unknown=0),
    ),
    "late detection of one campaign": (
        {**{a: (False, None, None) for a in ATTACKS + LEGIT}, "a2": (True, "P1", iso(4))},
        dict(precision=1.0, recall=0.25, fpr=0.0, ewr=0.2, ari=None, worst=("individual", 0, 4),
             ttd={"C1": 12 / 30, "C2": None}, median=(0.4 + 1.0) / 2, degraded=(0, 30),
             missing=0, unknown=0),
    ),
    "missing and unknown accounts": (
        {"a1": (True, "P1", iso(0)), "zz": (True, "P9", iso(0))},
        dict(precision=1.0, recall=0.25, fpr=0.0, ewr=0.2, ari=None, worst=("individual", 0, 4),
             ttd={"C1": 0.0, "C2": None}, median=0.5, degraded=(0, 30), missing=9, unknown=1),
    ),
}


def _approx(value):
    return None if value is None else pytest.approx(value)


@pytest.mark.parametrize("case", list(CASES))
def test_hand_computed_metrics(case, write_predictions, world_labels, world_log):
    verdicts, want = CASES[case]
    report = evaluate_predictions(write_predictions(verdicts), world_labels, world_log)
    m = report.predictions
    assert m.precision == _approx(want["precision"])
    assert m.recall == _approx(want["recall"])
    assert m.fpr == _approx(want["fpr"])
    assert m.exchange_weighted_recall == _approx(want["ewr"])
    assert m.ari == _approx(want["ari"])
    worst = m.worst_population
    assert (worst.population, worst.flagged, worst.accounts) == want["worst"]
    assert {c.campaign: c.time_to_detect for c in m.campaigns} == {
        k: _approx(v) for k, v in want["ttd"].items()
    }
    assert m.median_time_to_detect == _approx(want["median"])
    degraded = m.legit_exchanges_degraded
    assert (degraded.numerator, degraded.denominator) == want["degraded"]
    assert report.missing_predictions == want["missing"]
    assert report.unknown_predictions == want["unknown"]


def test_population_fpr_counts(write_predictions, world_labels):
    verdicts = {**PERFECT, "l1": (True, None, iso(2)), "l5": (True, None, None)}
    m = evaluate_predictions(write_predictions(verdicts), world_labels).predictions
    assert [(p.population, p.flagged, p.accounts) for p in m.population_fpr] == [
        ("individual", 1, 4),
        ("students", 1, 2),
    ]
    assert m.population_fpr[0].text() == "1 / 4 (25.00%)"
    assert (m.true_positives, m.false_positives, m.false_negatives, m.n_flagged) == (4, 2, 0, 6)


def test_per_campaign_fields(write_predictions, world_labels, world_log):
    verdicts = {**PERFECT, "a3": (True, "P3", iso(0)), "a1": (False, None, None)}
    m = evaluate_predictions(write_predictions(verdicts), world_labels, world_log).predictions
    c1 = next(c for c in m.campaigns if c.campaign == "C1")
    assert (c1.accounts, c1.flagged_accounts, c1.n_exchanges, c1.predicted_campaigns) == (3, 2, 30, 2)
    assert c1.recall == pytest.approx(2 / 3)
    assert c1.first_flag_at == "2026-03-02T09:00:00.000Z"
    assert m.campaigns_detected == 2


def test_without_logs_log_metrics_are_none(write_predictions, world_labels_path):
    report = score(write_predictions(PERFECT), world_labels_path, None)
    m = report.predictions
    assert m.legit_exchanges_degraded is None
    assert m.median_time_to_detect is None
    assert all(c.time_to_detect is None and c.n_exchanges is None for c in m.campaigns)
    assert m.recall == 1.0 and m.ari == 1.0
    assert report.logs is None


def test_flagged_derived_from_action_when_missing(tmp_path, world_labels):
    rows = [{"account_id": "a1", "risk": 0.8, "action": "strip_reasoning", "campaign_id": None,
             "flagged_at": None, "reasons": []},
            {"account_id": "l1", "risk": 0.4, "action": "monitor", "campaign_id": None,
             "flagged_at": None, "reasons": []}]
    write_jsonl(tmp_path / "p" / "accounts.jsonl", rows)
    m = evaluate_predictions(tmp_path / "p", world_labels).predictions
    assert (m.true_positives, m.false_positives) == (1, 0)


def test_campaigns_file_is_counted(write_predictions, world_labels):
    directory = write_predictions(PERFECT)
    write_jsonl(directory / "campaigns.jsonl", [
        {"campaign_id": "P1", "accounts": ["a1", "a2", "a3"], "n_exchanges": 30},
        {"campaign_id": "P2", "accounts": 1, "n_exchanges": 20},
    ])
    assert evaluate_predictions(directory, world_labels).n_predicted_campaigns == 2


def test_unlabelled_exchanges_are_counted_and_dropped(world_labels):
    rows = world_exchanges() + [("stranger", 0, "hi"), ("stranger", 1, "hi again")]
    log = exchange_log_from_tables([exchange_table(rows)], world_labels)
    assert (log.n_read, log.n_unlabelled, len(log)) == (82, 2, 80)
    assert (log.counts() == world_labels.n_exchanges).all()
    assert (log.ts[1:] >= log.ts[:-1])[log.account[1:] == log.account[:-1]].all()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"account_id": "x", "label": "maybe", "n_exchanges": 1}], "label must be"),
        ([{"account_id": "x", "label": "legit", "n_exchanges": -1}], "n_exchanges"),
        ([{"account_id": "x", "label": "legit"}, {"account_id": "x", "label": "legit"}], "twice"),
        ([{"label": "legit"}], "account_id"),
    ],
)
def test_bad_labels_raise(rows, message):
    with pytest.raises(EvalInputError, match=message):
        Labels.from_records(rows)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"account_id": "a1", "risk": 1.5, "action": "block", "flagged": True}, "risk"),
        ({"account_id": "a1", "risk": 0.5, "action": "nuke", "flagged": True}, "action"),
        ({"account_id": "a1", "risk": 0.5, "flagged": True, "flagged_at": "yesterday"}, "ISO"),
    ],
)
def test_bad_predictions_raise(tmp_path, world_labels, row, message):
    write_jsonl(tmp_path / "p" / "accounts.jsonl", [row])
    with pytest.raises(EvalInputError, match=message):
        evaluate_predictions(tmp_path / "p", world_labels)


def test_missing_accounts_file_raises(tmp_path, world_labels):
    with pytest.raises(EvalInputError, match="accounts.jsonl"):
        evaluate_predictions(tmp_path, world_labels)


def test_world_is_consistent():
    assert sum(r["n_exchanges"] for r in WORLD_LABELS if r["label"] == "legit") == 30
    assert Path(__file__).parent.joinpath("conftest.py").is_file()


def test_microsecond_timestamps_and_long_prompts(world_labels):
    import pyarrow as pa

    table = exchange_table([("a1", 1_000, "x" * 1000), ("a1", 2_000, None)])
    table = table.set_column(1, "ts", table.column("ts").cast(pa.timestamp("us", tz="UTC")))
    log = exchange_log_from_tables([table], world_labels, with_prompts=True, prompt_chars=256)
    assert log.ts.tolist() == [1_000, 2_000]
    assert len(log.prompt[0]) == 256 and log.prompt[1] is None
