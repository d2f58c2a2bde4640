"""Fitting ``full_tie`` on an analysed, labelled world: the loosest tie within the false-positive budgets."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from distillguard.accounts import IpIntel
from distillguard.accounts.risk import load_risk_models
from distillguard.analysis.stats import build_stats
from distillguard.campaigns import load_campaign_settings
from distillguard.eval.risk_fit import FPR_BUDGET
from distillguard.eval.tie_fit import TIE_GRID, fit_full_tie, with_full_tie
from distillguard.policy import load_policy
from distillguard.store import Store
from smoke_store import analysed_smoke

World = tuple[Path, dict[str, str], list[str]]
INTEL = Path(__file__).resolve().parents[3] / "shared" / "data" / "intel"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[str]]:
    """The smoke store, each labelled legitimate account's population, and every labelled account."""
    root = tmp_path_factory.mktemp("tie-fit")
    db = analysed_smoke(root)
    labels = [orjson.loads(line) for line in (root / "traffic" / "labels.jsonl").read_bytes().splitlines()]
    legit = {r["account_id"]: str(r.get("family") or r.get("population")) for r in labels if r["label"] != "attack"}
    return db, legit, [r["account_id"] for r in labels]


def _fit(db: Path, population: dict[str, str], grid: tuple[float, ...] = TIE_GRID):  # type: ignore[no-untyped-def]
    intel = IpIntel.load(INTEL) if INTEL.is_dir() else IpIntel()
    with Store(db).open() as store:
        stats = build_stats(store, intel, 50_000)
        return fit_full_tie(store, stats, load_policy(), load_campaign_settings(), load_risk_models(), population, grid)


def test_a_looser_tie_flags_no_fewer_accounts(world: World) -> None:
    db, legit, _ = world
    fitted = _fit(db, legit)
    ties = sorted(TIE_GRID)
    for loose, strict in pairwise(ties):
        assert fitted.attack_flagged[loose] >= fitted.attack_flagged[strict]
        assert fitted.legit_flagged[loose] >= fitted.legit_flagged[strict]
    assert fitted.full_tie in TIE_GRID
    assert fitted.legit_flagged[fitted.full_tie] - fitted.legit_flagged[max(TIE_GRID)] <= FPR_BUDGET * len(legit)


def test_with_no_legitimate_account_at_stake_the_loosest_tie_is_kept(world: World) -> None:
    assert _fit(world[0], {}).full_tie == min(TIE_GRID)


def test_when_every_account_counts_as_legitimate_no_tie_adds_flags_beyond_the_budget(
        world: World) -> None:
    db, _, accounts = world
    fitted = _fit(db, dict.fromkeys(accounts, "everyone"))
    assert fitted.attack_flagged == dict.fromkeys(TIE_GRID, 0)
    added = fitted.legit_flagged[fitted.full_tie] - fitted.legit_flagged[max(TIE_GRID)]
    assert added <= FPR_BUDGET * len(accounts)
    assert fitted.legit_flagged[max(TIE_GRID)] > 0


def test_an_empty_grid_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="empty grid"):
        _fit(world[0], world[1], ())


def test_the_tie_replaces_only_full_tie() -> None:
    shipped = load_campaign_settings()
    changed = with_full_tie(shipped, 1.25)
    assert changed.cluster.full_tie == 1.25
    assert changed.model_dump(exclude={"cluster": {"full_tie"}}) == shipped.model_dump(exclude={"cluster": {"full_tie"}})
