"""Recall at equal FPR against the baselines, and recall over non-low-volume campaign accounts."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.eval.inputs import DetectorOutput, Labels
from distillguard.eval.metrics import (
    MIN_COUNTED_EXCHANGES,
    counted_recall,
    equal_fpr_comparison,
    recall_at_fpr,
)


def _labels(attack: list[bool], n_exchanges: list[int]) -> Labels:
    return Labels.from_records(
        {"account_id": f"acct{i:02d}", "label": "attack" if a else "legit",
         "population": "campaign" if a else "individual", "campaign": "C1" if a else None, "n_exchanges": n}
        for i, (a, n) in enumerate(zip(attack, n_exchanges))
    )


def _output(name: str, flagged: list[bool], score: list[float]) -> DetectorOutput:
    n = len(flagged)
    return DetectorOutput(name, np.array(flagged), np.array(score, float), np.full(n, np.nan), None)


def test_recall_at_fpr_thresholds_strictly_above_the_allowed_legit_scores() -> None:
    attack = np.array([True, True, True, False, False, False, False])
    score = np.array([0.9, 0.5, 0.2, 0.8, 0.5, 0.1, 0.0])
    legit = ~attack
    assert recall_at_fpr(score, attack, legit, 0.0) == pytest.approx(1 / 3)  # above 0.8
    assert recall_at_fpr(score, attack, legit, 0.25) == pytest.approx(1 / 3)  # above 0.5: the tie stays out
    assert recall_at_fpr(score, attack, legit, 0.5) == pytest.approx(1.0)  # above 0.1
    assert recall_at_fpr(score, attack, legit, 1.0) == pytest.approx(1.0)


def test_equal_fpr_comparison_picks_the_best_baseline_at_the_predictions_fpr() -> None:
    attack = [True] * 4 + [False] * 4
    labels = _labels(attack, [100] * 8)
    mask = np.ones(8, bool)
    predictions = _output("distillguard", [True, True, True, True, False, False, False, False], [0.0] * 8)
    weak = _output("volume", [False] * 8, [0.9, 0.1, 0.1, 0.1, 0.5, 0.2, 0.2, 0.2])
    strong = _output("mmd", [False] * 8, [0.9, 0.8, 0.1, 0.1, 0.5, 0.2, 0.2, 0.2])
    cmp = equal_fpr_comparison(predictions, [weak, strong], labels, mask)
    assert cmp is not None
    assert cmp.fpr == 0.0 and cmp.recall == 1.0
    assert cmp.baseline_recall == {"volume": 0.25, "mmd": 0.5}
    assert cmp.best_baseline == "mmd" and cmp.ratio == pytest.approx(2.0)
    none_caught = _output("prada", [False] * 8, [0.0] * 4 + [1.0] * 4)
    assert equal_fpr_comparison(predictions, [none_caught], labels, mask).ratio is None
    assert equal_fpr_comparison(predictions, [], labels, mask) is None


def test_counted_recall_leaves_out_low_volume_campaign_accounts() -> None:
    low = MIN_COUNTED_EXCHANGES - 1
    labels = _labels([True, True, True, False], [low, MIN_COUNTED_EXCHANGES, 500, 10])
    rate = counted_recall(_output("d", [False, True, False, True], [0.0] * 4), labels)
    assert (rate.numerator, rate.denominator) == (1, 2)
