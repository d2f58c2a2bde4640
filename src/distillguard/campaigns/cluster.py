"""Campaigns: Leiden communities of linked accounts, scored as one pooled actor.

A community's members are pooled into one fingerprint (the account statistics
merge) and scored by the same risk model as a single account: two thousand
accounts sending twenty requests each look, together, like the one harvester
they are. Risk then flows back to each member in proportion to its ties, so a
low-volume account of a hydra cluster is flagged with its campaign while an
account loosely tied to it is not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import igraph as ig
import leidenalg
import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.accounts import AccountStats, score_accounts
from distillguard.core.decision import Evidence
from distillguard.core.ids import text_hash64


@dataclass(frozen=True)
class CampaignSettings:
    """Thresholds of the clustering step."""

    min_accounts: int = 3
    min_risk: float = 0.5
    """Pooled risk from which a community is reported as a campaign."""
    full_tie: float = 2.0
    """Summed edge weight to fellow members at which an account is fully tied."""
    seed: int = 0


@dataclass
class Campaign:
    """One campaign: its members, pooled risk, confidence and evidence."""

    campaign_id: str
    members: list[str]
    risk: float
    confidence: float
    evidence: list[Evidence]
    families: dict[str, int] = field(default_factory=dict)
    """Linking family → number of member-to-member edges it supports."""


@dataclass
class CampaignResult:
    """Campaigns found, and per account its campaign and tie strength."""

    campaigns: list[Campaign]
    campaign_of: dict[str, str]
    tie: dict[str, float]


def find_campaigns(
    edges: pl.DataFrame,
    stats: AccountStats,
    context: pa.Table | None = None,
    settings: CampaignSettings | None = None,
) -> CampaignResult:
    """Cluster the linked accounts and keep the communities whose pooled risk is high.

    ``context`` holds ``account_id, category, verification`` of the accounts;
    a community is scored with its members' most common category and
    verification level.
    """
    settings = settings or CampaignSettings()
    if edges.height == 0:
        return CampaignResult([], {}, {})
    names = pl.concat([edges.get_column("a"), edges.get_column("b")]).unique().sort().to_list()
    index = {name: i for i, name in enumerate(names)}
    a = [index[x] for x in edges.get_column("a").to_list()]
    b = [index[x] for x in edges.get_column("b").to_list()]
    weights = edges.get_column("weight").to_list()
    graph = ig.Graph(n=len(names), edges=list(zip(a, b)), directed=False)
    partition = leidenalg.find_partition(
        graph, leidenalg.ModularityVertexPartition, weights=weights, seed=settings.seed
    )
    membership = np.array(partition.membership)
    strength = np.zeros(len(names))
    same = membership[a] == membership[b]
    np.add.at(strength, np.array(a)[same], np.array(weights)[same])
    np.add.at(strength, np.array(b)[same], np.array(weights)[same])
    groups: dict[str, list[str]] = {}
    for community in np.unique(membership):
        members = [names[i] for i in np.flatnonzero(membership == community)]
        if len(members) >= settings.min_accounts:
            groups["CMP-" + format(text_hash64(min(members)), "016x")[:10]] = members
    if not groups:
        return CampaignResult([], {}, {})
    pooled = stats.pool(groups).get()
    pooled = pooled.append_column("n_accounts", pa.array([len(m) for m in groups.values()], pa.int64()))
    risk, evidence = score_accounts(pooled, _pooled_context(context, groups))
    families = _family_support(edges, index, membership)
    campaigns: list[Campaign] = []
    campaign_of: dict[str, str] = {}
    tie: dict[str, float] = {}
    for row, (cid, members) in enumerate(zip(pooled.column("account_id").to_pylist(), groups.values())):
        if risk[row] < settings.min_risk:
            continue
        ties = [min(1.0, strength[index[m]] / settings.full_tie) for m in members]
        community = membership[index[members[0]]]
        campaigns.append(
            Campaign(
                campaign_id=cid,
                members=sorted(members),
                risk=float(risk[row]),
                confidence=float(risk[row] * np.mean(ties)),
                evidence=evidence[row],
                families=families.get(int(community), {}),
            )
        )
        for member, t in zip(members, ties):
            campaign_of[member] = cid
            tie[member] = t
    return CampaignResult(campaigns, campaign_of, tie)


def _pooled_context(context: pa.Table | None, groups: dict[str, list[str]]) -> pa.Table | None:
    """The most common category and verification level of each group's members."""
    if context is None:
        return None
    known = {
        a: (c, v)
        for a, c, v in zip(
            context.column("account_id").to_pylist(),
            context.column("category").to_pylist(),
            context.column("verification").to_pylist(),
        )
    }
    rows = []
    for members in groups.values():
        pairs = [known.get(m, (None, None)) for m in members]
        rows.append({
            "category": Counter(c for c, _ in pairs).most_common(1)[0][0],
            "verification": Counter(v for _, v in pairs).most_common(1)[0][0],
        })
    return pa.Table.from_pylist(rows, schema=pa.schema([("category", pa.string()), ("verification", pa.string())]))


def _family_support(edges: pl.DataFrame, index: dict[str, int], membership: np.ndarray) -> dict[int, dict[str, int]]:
    """Per community, how many internal edges each linking family supports."""
    support: dict[int, dict[str, int]] = {}
    for a, b, families in edges.select("a", "b", "families").iter_rows():
        ca, cb = membership[index[a]], membership[index[b]]
        if ca != cb:
            continue
        counts = support.setdefault(int(ca), {})
        for item in families:
            name = item.split("=", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return support


def propagate(account_ids: list[str], risk: np.ndarray, result: CampaignResult) -> np.ndarray:
    """Each account's risk raised to its campaign's risk times its tie to the campaign."""
    by_id = {c.campaign_id: c.risk for c in result.campaigns}
    out = risk.copy()
    for i, account in enumerate(account_ids):
        cid = result.campaign_of.get(account)
        if cid is not None:
            out[i] = max(out[i], by_id[cid] * result.tie[account])
    return out


def campaign_features(stats: AccountStats, campaigns: list[Campaign]) -> pa.Table:
    """Pooled fingerprints of the campaigns (one row per campaign)."""
    return stats.pool({c.campaign_id: c.members for c in campaigns}).get()
