"""Fit how strongly a member must be linked to its campaign to share its risk (the ``full_tie`` tunable).

A campaign's risk reaches a member in proportion to its tie: its summed edge
weight to fellow members over ``full_tie`` (:func:`~distillguard.campaigns.propagate`),
or all of it when the member shares a strong indicator (a payment fingerprint) with one.
The looser the tie, the more of a campaign's small, loosely linked accounts it
flags, and the more legitimate accounts linked to it by chance. The fit
analyses a labelled world once per candidate and keeps the loosest whose
false positives stay within the budgets of the risk fit
(:data:`~distillguard.eval.risk_fit.FPR_BUDGET` overall, half the per-family
target in each population) above those of the strictest candidate.
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

    def within(tie: float) -> bool:
        added = {p: flagged[tie][p] - strictest[p] for p in sizes}
        return (sum(added.values()) <= FPR_BUDGET * len(population)
                and all(added[p] <= POPULATION_FPR_BUDGET * sizes[p] for p in sizes))

    best = min(t for t in grid if within(t))
    return TieFit(best, {t: sum(c.values()) for t, c in flagged.items()}, attacks)
