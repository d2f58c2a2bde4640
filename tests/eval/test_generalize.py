"""The leave-family-out split of ``bench/generalize.py``: folds, always-held families, family labels."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import orjson
import pytest

from distillguard.core.errors import ConfigError
from distillguard.eval import DetectorOutput, ExchangeLog, Labels, read_exchange_log, read_labels

BENCH = Path(__file__).resolve().parents[2] / "bench"
ATTACKS = ("a1", "a2", "a3", "a4", "a5")
NEGATIVES = ("n1", "n2", "n3", "n4")


@pytest.fixture(scope="module")
def generalize() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH))
        return importlib.import_module("generalize")


def test_every_rotating_family_is_held_out_once_and_always_held_ones_every_time(generalize: ModuleType) -> None:
    folds = generalize.make_folds(ATTACKS, NEGATIVES, ("a5", "n4"), 2, seed=3)
    assert len(folds) == 2
    for fold in folds:
        assert "a5" in fold.held_attacks and "n4" in fold.held_negatives
        assert set(fold.train_attacks).isdisjoint(fold.held_attacks)
        assert set(fold.train_negatives).isdisjoint(fold.held_negatives)
        assert set(fold.train_attacks) | set(fold.held_attacks) == set(ATTACKS)
        assert set(fold.train_negatives) | set(fold.held_negatives) == set(NEGATIVES)
        assert fold.train_attacks and fold.train_negatives
    for family in ("a1", "a2", "a3", "a4", "n1", "n2", "n3"):
        assert sum(family in f.held_attacks + f.held_negatives for f in folds) == 1
    assert generalize.make_folds(ATTACKS, NEGATIVES, ("a5", "n4"), 2, seed=3) == folds
    assert generalize.make_folds(ATTACKS, NEGATIVES, ("a5", "n4"), 2, seed=4) != folds


@pytest.mark.parametrize(
    ("always_held", "n_folds", "message"),
    [
        (("zz",), 2, "unknown families"),
        ((), 0, "at least 1"),
        ((), 5, "holds out no negative family"),
        (("n1", "n2", "n3"), 2, "fold 0 trains on no negative family"),
        ((), 1, "trains on no attack family"),
    ],
)
def test_impossible_splits_are_refused(generalize: ModuleType, always_held: tuple[str, ...], n_folds: int,
                                       message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generalize.make_folds(ATTACKS, NEGATIVES, always_held, n_folds, seed=0)


def test_families_are_read_from_the_labels(generalize: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    rows = [
        {"account_id": "b", "label": "attack", "population": "campaign", "campaign": "a1-2", "n_exchanges": 9,
         "family": "a1"},
        {"account_id": "a", "label": "legit", "population": "n1", "campaign": None, "n_exchanges": 3, "family": "n1"},
        {"account_id": "c", "label": "legit", "population": "individual", "campaign": None, "n_exchanges": 1},
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    labels = read_labels(path)
    assert generalize.read_families(path, labels).tolist() == ["n1", "a1", None]


def test_a_kept_fold_is_reused_with_its_fitted_weights_and_full_tie_only_if_it_is_that_fold(
        generalize: ModuleType, tmp_path: Path) -> None:
    """``--reuse`` analyses a fold a ``--keep`` run left again: its weight files and fitted ``full_tie`` with the
    shipped tunables otherwise; a missing file, or a test world holding out other families, is refused by name."""
    import yaml

    from distillguard.accounts import IpIntel
    from distillguard.campaigns import load_campaign_settings
    from distillguard.policy import load_policy

    fold = generalize.make_folds(ATTACKS, NEGATIVES, (), 2, seed=3)[0]
    shipped = generalize.Shipped(IpIntel(), load_policy(), load_campaign_settings())
    work = tmp_path / "fold-0"
    (work / "test").mkdir(parents=True)
    for name in ("risk_weights.yaml", "campaign_weights.yaml"):
        (work / name).write_text("bias: 0\n")
    (work / "test" / "exchanges.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"no kept fold to reuse .*campaigns\.yaml"):
        generalize.kept_fold(work, fold, shipped)
    data = shipped.tunables.model_dump(mode="json")
    data["cluster"]["full_tie"] = 0.37
    (work / "campaigns.yaml").write_text(yaml.safe_dump(data))
    rows = [{"account_id": f"x{k}", "label": "legit", "family": family}
            for k, family in enumerate([*fold.held_attacks, *fold.held_negatives, generalize.BACKGROUND])]
    labels = work / "test" / "labels.jsonl"
    labels.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    weights, tunables = generalize.kept_fold(work, fold, shipped)
    assert weights == {"account": work / "risk_weights.yaml", "campaign": work / "campaign_weights.yaml"}
    assert tunables.cluster.full_tie == 0.37 and tunables.link == shipped.tunables.link
    labels.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows[1:]))
    with pytest.raises(ConfigError, match="not fold 0's held-out ones"):
        generalize.kept_fold(work, fold, shipped)


def test_the_counted_evidence_bar_is_the_nats_from_which_the_fitted_prior_flags(
        generalize: ModuleType, tmp_path: Path) -> None:
    import yaml
    from scipy.special import expit

    from distillguard.accounts.risk import default_weights
    from distillguard.policy import load_policy

    policy = load_policy()
    fitted = default_weights().model_copy(update={"evidence_bias": -40.0})
    weights = {"account": tmp_path / "risk_weights.yaml", "campaign": tmp_path / "campaign_weights.yaml"}
    weights["account"].write_text(yaml.safe_dump(fitted.model_dump()))
    weights["campaign"].write_text(yaml.safe_dump(default_weights("campaign").model_dump()))
    bar = generalize.evidence_bar(weights, policy)
    # the counted-evidence risk (the posterior of the nats under the prior) reaches the flag threshold at the bar
    assert expit(bar - 40.0) == pytest.approx(policy.flag_threshold)
    assert expit(bar - 1.0 - 40.0) < policy.flag_threshold
    weights["account"].write_text(yaml.safe_dump(fitted.model_copy(update={"evidence_bias": None}).model_dump()))
    assert generalize.evidence_bar(weights, policy) is None


def _campaign_log(tmp_path: Path, times: list[tuple[str, str]]) -> tuple[Labels, ExchangeLog]:
    """Labels of accounts ``x`` and ``y`` of campaign ``a1-1``, and their exchanges at ``times`` (account, hh:mm:ss)."""
    labels_path = tmp_path / "labels.jsonl"
    accounts = [{"account_id": a, "label": "attack", "population": "campaign", "campaign": "a1-1", "n_exchanges": 2,
                 "family": "a1"} for a in ("x", "y")]
    labels_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in accounts))
    labels = read_labels(labels_path)
    log_path = tmp_path / "exchanges.jsonl"
    request = {"messages": [{"role": "user", "content": "hi"}]}
    log_path.write_bytes(b"".join(orjson.dumps({"request_id": f"r{i}", "account_id": a, "ts": f"2026-01-01T{t}Z",
                                                "ip": "203.0.113.5", "model": "m", "request": request}) + b"\n"
                                  for i, (a, t) in enumerate(times)))
    return labels, read_exchange_log([log_path], labels)


def test_the_earliest_hourly_flag_is_the_share_a_campaign_sends_in_its_first_clock_hour(
        generalize: ModuleType, tmp_path: Path) -> None:
    # Clock hour 10:00-11:00 holds the first three of five exchanges (the interval ends at 11:00, not an hour
    # after the first exchange at 10:50).
    labels, log = _campaign_log(tmp_path, [("x", "10:50:00"), ("y", "10:55:00"), ("x", "10:59:59"),
                                           ("y", "11:00:00"), ("x", "11:49:00")])
    assert generalize.cadence_floor(log, labels, "a1-1", timedelta(hours=1)) == pytest.approx(0.6)
    assert generalize.cadence_floor(log, labels, "a1-1", timedelta(minutes=5)) == pytest.approx(0.2)
    assert generalize.cadence_floor(log, labels, "another", timedelta(hours=1)) is None


def test_hours_to_first_flag_count_from_the_campaigns_first_exchange(generalize: ModuleType, tmp_path: Path) -> None:
    labels, log = _campaign_log(tmp_path, [("x", "10:30:00"), ("y", "11:00:00")])
    hour = 3_600_000
    start = log.ts.min()
    flagged_y = DetectorOutput("d", np.array([False, True]), np.zeros(2), np.array([np.nan, start + 3 * hour]), None)
    assert generalize.hours_to_first_flag(log, labels, flagged_y, "a1-1") == pytest.approx(3.0)
    never = DetectorOutput("d", np.array([False, False]), np.zeros(2), np.full(2, np.nan), None)
    assert generalize.hours_to_first_flag(log, labels, never, "a1-1") is None
