"""Fitting ``full_tie`` on an analysed, labelled world: the loosest tie within the false-positive budgets."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from distillguard.accounts import IpIntel
from distillguard.accounts.risk import load_risk_models
from distillguard.analysis.stats import build_stats
from distillguard.campaigns import load_campaign_settings
from distillguard.eval.tie_fit import TIE_GRID, fit_full_tie, with_full_tie, within_budgets
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
    added = fitted.legit_flagged[fitted.full_tie] - fitted.legit_flagged[max(TIE_GRID)]
    assert within_budgets(Counter(everyone=added), Counter(everyone=len(legit)))


def test_with_no_legitimate_account_at_stake_the_loosest_tie_is_kept(world: World) -> None:
    assert _fit(world[0], {}).full_tie == min(TIE_GRID)


def test_when_every_account_counts_as_legitimate_no_tie_adds_flags_beyond_the_budget(
        world: World) -> None:
    db, _, accounts = world
    fitted = _fit(db, dict.fromkeys(accounts, "everyone"))
    assert fitted.attack_flagged == dict.fromkeys(TIE_GRID, 0)
    added = fitted.legit_flagged[fitted.full_tie] - fitted.legit_flagged[max(TIE_GRID)]
    assert within_budgets(Counter(everyone=added), Counter(everyone=len(accounts)))
    assert fitted.legit_flagged[max(TIE_GRID)] > 0


def test_a_budget_below_one_account_allows_one() -> None:
    sizes = Counter({"consumer-chat": 1_551, "tutoring": 12, "benchmark-evals": 50, "research-evals": 39})
    assert within_budgets(Counter({"consumer-chat": 1}), sizes)
    assert within_budgets(Counter({"tutoring": 1}), sizes)
    assert not within_budgets(Counter({"consumer-chat": 2}), sizes)
    assert not within_budgets(Counter({"tutoring": 1, "research-evals": 1}), sizes)


def test_a_budget_above_one_account_is_kept() -> None:
    sizes = Counter({"consumer-chat": 9_000, "tutoring": 12, "vpn-users": 1_000})
    assert within_budgets(Counter({"consumer-chat": 4, "vpn-users": 1}), sizes)
    assert not within_budgets(Counter({"consumer-chat": 6}), sizes)
    assert not within_budgets(Counter({"tutoring": 2}), sizes)
    assert within_budgets(Counter({"vpn-users": 5}), sizes)
    assert not within_budgets(Counter({"vpn-users": 6}), sizes)


@given(st.dictionaries(st.sampled_from("abcd"), st.integers(1, 5_000), min_size=1),
       st.dictionaries(st.sampled_from("abcd"), st.integers(0, 20)), st.sampled_from("abcd"))
def test_flagging_one_more_account_never_brings_a_tie_within_the_budgets(
        sizes: dict[str, int], added: dict[str, int], more: str) -> None:
    before, after = Counter(added), Counter(added) + Counter({more: 1})
    assert within_budgets(before, Counter(sizes)) or not within_budgets(after, Counter(sizes))


def test_an_empty_grid_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="empty grid"):
        _fit(world[0], world[1], ())


def test_the_tie_replaces_only_full_tie() -> None:
    shipped = load_campaign_settings()
    changed = with_full_tie(shipped, 1.25)
    assert changed.cluster.full_tie == 1.25
    assert changed.model_dump(exclude={"cluster": {"full_tie"}}) == shipped.model_dump(exclude={"cluster": {"full_tie"}})
