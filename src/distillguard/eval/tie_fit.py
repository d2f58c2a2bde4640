"""Fit how strongly a member must be linked to its campaign to share its risk (the ``full_tie`` tunable).

A campaign's risk reaches a member in proportion to its tie: its summed edge
weight to fellow members over ``full_tie`` (:func:`~distillguard.campaigns.propagate`),
or all of it when the member shares a strong indicator (a payment fingerprint) with one.
The looser the tie, the more of a campaign's small, loosely linked accounts it
flags, and the more legitimate accounts linked to it by chance. The fit
analyses a labelled world once per candidate and keeps the loosest whose
false positives stay within the budgets of the risk fit
(:data:`~distillguard.eval.risk_fit.FPR_BUDGET` overall, half the per-family
target in each population) above those of the strictest candidate, each budget
at least one account (:func:`within_budgets`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from distillguard.accounts import AccountStats
from distillguard.accounts.risk import RiskModels
from distillguard.analysis.assess import assess
from distillguard.campaigns import CampaignTunables
from distillguard.eval.risk_fit import FPR_BUDGET, POPULATION_FPR_BUDGET
from distillguard.policy import Policy
from distillguard.store import Store
from distillguard.store.traffic import data_end

TIE_GRID: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0)
"""Candidate ``full_tie`` values: from one certain link (an edge of weight 1) to four."""


@dataclass(frozen=True)
class TieFit:
    """The fitted ``full_tie`` and, per candidate, the legitimate accounts flagged and the attack accounts flagged."""

    full_tie: float
    legit_flagged: dict[float, int]
    attack_flagged: dict[float, int]


def with_full_tie(tunables: CampaignTunables, full_tie: float) -> CampaignTunables:
    """``tunables`` with the cluster step's ``full_tie`` replaced."""
    return tunables.model_copy(update={"cluster": tunables.cluster.model_copy(update={"full_tie": full_tie})})


def fit_full_tie(store: Store, stats: AccountStats, policy: Policy, tunables: CampaignTunables, models: RiskModels,
                 population: dict[str, str], grid: Sequence[float] = TIE_GRID) -> TieFit:
    """The loosest ``full_tie`` of ``grid`` within the FP budgets on the analysed world in ``store``.

    ``population`` maps every legitimate account to its population (family); accounts missing from it are
    attacks. The budgets count the legitimate accounts flagged beyond those the strictest candidate flags.
    """
    if not grid:
        raise ValueError("fit_full_tie: empty grid")
    end = data_end(store)
    flagged: dict[float, Counter[str]] = {}
    attacks: dict[float, int] = {}
    for tie in sorted(grid, reverse=True):
        found = assess(store, stats, policy, tunables=with_full_tie(tunables, tie), decided_at=end, models=models)
        flagged[tie] = Counter(population[d.account_id] for d in found.decisions
                               if d.flagged and d.account_id in population)
        attacks[tie] = sum(1 for d in found.decisions if d.flagged and d.account_id not in population)
    sizes = Counter(population.values())
    strictest = flagged[max(grid)]
    best = min(t for t in grid if within_budgets(flagged[t] - strictest, sizes))
    return TieFit(best, {t: sum(c.values()) for t, c in flagged.items()}, attacks)


def within_budgets(added: Counter[str], sizes: Counter[str]) -> bool:
    """Whether the legitimate accounts ``added`` to the flagged, per population, stay within the budgets for
    populations of ``sizes``: :data:`FPR_BUDGET` of all of them and :data:`POPULATION_FPR_BUDGET` of each.

    Each budget is at least one account. A world of fewer than 2,000 legitimate accounts has an overall budget
    below one, which cannot be measured on it: rounded down, a single legitimate account linked by chance would
    keep every loosely linked member of every campaign from sharing its risk.
    """
    return (sum(added.values()) <= max(1.0, FPR_BUDGET * sum(sizes.values()))
            and all(added[p] <= max(1.0, POPULATION_FPR_BUDGET * n) for p, n in sizes.items()))
