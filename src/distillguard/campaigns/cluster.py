"""Campaigns: Leiden communities of linked accounts, scored as one pooled actor.

A community's members are pooled into one fingerprint (the account statistics
merge) and scored by the risk model's terms, with the weights fitted for pooled
groups early in their life and those fitted on whole traffic (the higher of
the two, see :func:`_score_groups`): two thousand
accounts sending twenty requests each look, together, like the one harvester
they are. Communities that rotate through one shared pool of clients or
datacenter exits, or are handed conversations in one cyclic order (a load
balancer's round robin, :mod:`distillguard.campaigns.dispatch`), are scored
together as one fleet (:func:`merge_pools`), and taken as one campaign when
the fleet is risky. Risk then flows back to each
member in proportion to its ties, so a low-volume account of a hydra cluster
is flagged with its campaign while an account loosely tied to it is not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import igraph as ig
import leidenalg
import numpy as np
import polars as pl
import pyarrow as pa
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from distillguard.accounts import AccountStats, default_weights, score_accounts
from distillguard.campaigns.dispatch import Dispatch, DispatchSettings, group_dispatch, linked_by_dispatch
from distillguard.campaigns.indicators import Indicators
from distillguard.core.decision import Evidence
from distillguard.core.ids import text_hash64


@dataclass(frozen=True)
class CampaignSettings:
    """Thresholds of the clustering step."""

    min_accounts: int = 3
    min_risk: float = 0.7
    """Pooled risk from which a community is reported as a campaign (the policy's first flagging
    threshold: a group of accounts none of whom would be flagged is not reported as a campaign)."""
    full_tie: float = 2.0
    """Summed edge weight to fellow members at which an account is fully tied."""
    merge_min: float = 0.5
    """Similarity of two campaigns' pooled indicators, per family, that counts towards merging them."""
    merge_families: int = 2
    """Families that must agree for two campaigns to be merged into one."""
    merge_ignore: tuple[str, ...] = ("timing",)
    """Families that say nothing about a common operator once pooled: two round-the-clock
    campaigns are active in the same time slots whoever runs them."""
    broad_min: float = 0.8
    broad_breadth: float = 5.0
    """One family alone merges two campaigns when it agrees above ``broad_min`` over at least
    ``broad_breadth`` indicators' worth of shared mass (a shared pool of rotating clients or
    addresses, not one popular client)."""
    pool_kinds: dict[str, str] = field(default_factory=lambda: {
        "client": "distinct_clients", "subnet": "distinct_subnets", "ip": "distinct_ips"})
    """Indicator kinds a fleet rotates through, with the pooled fingerprint column counting them."""
    pool_datacenter: float = 0.5
    """Addresses (``ip``, ``subnet``) make a pool only for communities with at least this share of
    their traffic from datacenter ranges: unrelated operations rent exits of one residential proxy
    network (on ``dev``, residential address pools merged two operators' campaigns: ARI 0.993 → 0.918)."""
    pool_min: float = 3.0
    pool_rate: float = 0.5
    """A community rotates a kind when it shows at least ``pool_min`` distinct values of it, and
    at least ``pool_rate`` per exchange (a new client or address every other request)."""
    pool_purity: float = 0.5
    """Share of the accounts showing a value that must be members of rotating communities for the
    value to be part of a fleet's pool (a popular client or cloud range is not)."""
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    """When communities handed conversations in one cyclic order are one fleet."""
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


@dataclass(frozen=True)
class Fleet:
    """Communities found rotating through one shared pool: their members, how many, and through what."""

    members: list[str]
    communities: int
    kinds: tuple[str, ...]

    @staticmethod
    def combined(fleets: list[Fleet]) -> Fleet:
        """Several fleets found inside one campaign, as one."""
        kinds = tuple(dict.fromkeys(k for f in fleets for k in f.kinds))
        return Fleet(sorted({m for f in fleets for m in f.members}), sum(f.communities for f in fleets), kinds)

    @property
    def reason(self) -> str:
        """The fleet in plain words."""
        pools = " and ".join(dict.fromkeys(_POOL_WORDS[k] for k in self.kinds if k in _POOL_WORDS))
        ways = [f"rotate through one shared pool of {pools}"] if pools else []
        if "dispatch" in self.kinds:
            ways.append("are handed conversations in one cyclic order")
        return f"{self.communities} linked groups " + " and ".join(ways)


_POOL_WORDS = {"client": "clients", "ip": "datacenter exits", "subnet": "datacenter exits"}


def find_campaigns(
    edges: pl.DataFrame,
    stats: AccountStats,
    context: pa.Table | None = None,
    settings: CampaignSettings | None = None,
    indicators: Indicators | None = None,
) -> CampaignResult:
    """Cluster the linked accounts and keep the communities whose pooled risk is high.

    ``context`` holds ``account_id, category, verification`` of the accounts;
    a community is scored with its members' most common category and
    verification level. With ``indicators`` (the linking input), risky
    communities that are one operation are merged (:func:`merge_campaigns`).
    """
    settings = settings or CampaignSettings()
    if edges.height == 0:
        return CampaignResult([], {}, {})
    names = pl.concat([edges.get_column("a"), edges.get_column("b")]).unique().sort()
    codes = names.to_frame("account_id").with_row_index("i")
    a = edges.select("a").join(codes, left_on="a", right_on="account_id", maintain_order="left").get_column("i").to_numpy()
    b = edges.select("b").join(codes, left_on="b", right_on="account_id", maintain_order="left").get_column("i").to_numpy()
    weights = edges.get_column("weight").to_numpy()
    graph = ig.Graph(n=len(names), edges=np.column_stack([a, b]).tolist(), directed=False)
    partition = leidenalg.find_partition(
        graph, leidenalg.ModularityVertexPartition, weights=weights.tolist(), seed=settings.seed
    )
    membership = np.array(partition.membership)
    strength = np.zeros(len(names))
    same = membership[a] == membership[b]
    np.add.at(strength, a[same], weights[same])
    np.add.at(strength, b[same], weights[same])
    name_list = names.to_list()
    order = np.argsort(membership, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(membership[order]) != 0, True])
    cells: dict[str, list[str]] = {}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo >= 2:
            members = [name_list[i] for i in order[lo:hi]]
            cells["CMP-" + format(text_hash64(min(members)), "016x")[:10]] = members
    index = {name: i for i, name in enumerate(name_list)}
    groups = {cid: m for cid, m in cells.items() if len(m) >= settings.min_accounts}
    accepted: list[tuple[set[str], Fleet]] = []
    if indicators is not None:
        fleets = merge_pools(cells, stats, indicators, settings)
        if fleets:
            fleet_risk, _ = _score_groups(stats, {fid: f.members for fid, f in fleets.items()}, context)
            for (fid, fleet), r in zip(fleets.items(), fleet_risk):
                if r >= settings.min_risk:  # else the cells stay as they were
                    inside = set(fleet.members)
                    groups = {cid: m for cid, m in groups.items() if not inside.intersection(m)}
                    groups[fid] = fleet.members
                    membership[[index[m] for m in fleet.members]] = membership[index[fleet.members[0]]]
                    accepted.append((inside, fleet))
    if not groups:
        return CampaignResult([], {}, {})
    risk, evidence = _score_groups(stats, groups, context)
    if indicators is not None:
        risky = [cid for cid, r in zip(groups, risk) if r >= settings.min_risk]
        merged = merge_campaigns({cid: groups[cid] for cid in risky}, indicators, settings)
        if len(merged) < len(risky):
            groups = {**{cid: m for cid, m in groups.items() if cid not in set(risky)}, **merged}
            for members in merged.values():
                membership[[index[m] for m in members]] = membership[index[members[0]]]
            risk, evidence = _score_groups(stats, groups, context)
    families = _family_support(edges, index, membership)
    reported = {cid: m for (cid, m), r in zip(groups.items(), risk) if r >= settings.min_risk}
    orders = _dispatch(reported, indicators) if indicators is not None else {}
    campaigns: list[Campaign] = []
    campaign_of: dict[str, str] = {}
    tie: dict[str, float] = {}
    for row, (cid, members) in enumerate(groups.items()):
        if risk[row] < settings.min_risk:
            continue
        ties = [min(1.0, strength[index[m]] / settings.full_tie) for m in members]
        community = membership[index[members[0]]]
        fleets = [fleet for inside, fleet in accepted if inside.intersection(members)]
        notes = [Evidence("fleet_pool", 1.0, Fleet.combined(fleets).reason)] if fleets else []
        order = orders.get(cid)
        if order is not None and order.cyclic(settings.dispatch):
            notes.append(Evidence("round_robin", 1.0 - order.p_value, order.reason))
        campaigns.append(
            Campaign(
                campaign_id=cid,
                members=sorted(members),
                risk=float(risk[row]),
                confidence=float(risk[row] * np.mean(ties)),
                evidence=notes + evidence[row],
                families=families.get(int(community), {}),
            )
        )
        for member, t in zip(members, ties):
            campaign_of[member] = cid
            tie[member] = t
    return CampaignResult(campaigns, campaign_of, tie)


def _score_groups(stats: AccountStats, groups: dict[str, list[str]], context: pa.Table | None) -> tuple[np.ndarray, list[list[Evidence]]]:
    """Pooled risk of each group of accounts, with the coordination terms: the higher of the two models.

    The campaign model knows what a campaign shows hours into its life; the
    account model, fitted on whole traffic, what it shows over weeks (a
    round-the-clock tool harvester that never asks for reasoning in words).
    Each is calibrated to the false-positive budget on its own; the reasons
    are those of the model that scored higher.
    """
    pooled = stats.pool(groups).get()
    pooled = pooled.append_column("n_accounts", pa.array([len(m) for m in groups.values()], pa.int64()))
    pooled_context = _pooled_context(context, groups)
    early, early_evidence = score_accounts(pooled, pooled_context, weights=default_weights("campaign"))
    late, late_evidence = score_accounts(pooled, pooled_context, weights=default_weights("account"))
    evidence = [e if a >= b else l for a, b, e, l in zip(early, late, early_evidence, late_evidence)]
    return np.maximum(early, late), evidence


def merge_campaigns(groups: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings) -> dict[str, list[str]]:
    """Merge communities that are one operation: their pooled indicators agree in several families.

    Two halves of one reseller network, split by payment instrument, still
    share their rotating client pool, their activity rhythm and their prompt
    templates; pooled over hundreds of accounts those agree far more than two
    unrelated groups' do. Only communities already risky enough to be
    campaigns are merged, so no legitimate community is pulled into one.
    """
    if len(groups) < 2:
        return groups
    ids = list(groups)
    pooled = (
        indicators.table.join(_member_codes(groups, indicators), on="i")
        .group_by("family", "c", "h").agg(pl.col("x").cast(pl.Float64).sum())
        .with_columns((pl.col("x") / (pl.col("x") ** 2).sum().sqrt().over("family", "c")).alias("v"))
    )
    agree = np.zeros((len(ids), len(ids)), np.int32)
    broad = np.zeros((len(ids), len(ids)), bool)
    for (family,), rows in pooled.group_by("family"):
        if family in settings.merge_ignore:
            continue
        k = rows.get_column("h").rank("dense").to_numpy() - 1
        where = (rows.get_column("c").to_numpy(), k)
        shape = (len(ids), int(k.max()) + 1)
        vectors = sparse.csr_array((rows.get_column("v").to_numpy(), where), shape=shape)
        squares = sparse.csr_array((rows.get_column("v").to_numpy() ** 2, where), shape=shape)
        sim = (vectors @ vectors.T).toarray()
        concentration = (squares @ squares.T).toarray()
        with np.errstate(divide="ignore", invalid="ignore"):
            breadth = np.where(concentration > 0, sim**2 / concentration, 0.0)
        agree += sim >= settings.merge_min
        broad |= (sim >= settings.broad_min) & (breadth >= settings.broad_breadth)
    np.fill_diagonal(agree, 0)
    np.fill_diagonal(broad, False)
    linked = (agree >= settings.merge_families) | broad
    n_parts, labels = connected_components(sparse.csr_array(linked), directed=False)
    if n_parts == len(ids):
        return groups
    merged: dict[int, list[str]] = {}
    for k, label in enumerate(labels):
        merged.setdefault(int(label), []).extend(groups[ids[k]])
    return {"CMP-" + format(text_hash64(min(m)), "016x")[:10]: sorted(m) for m in merged.values()}


def merge_pools(
    cells: dict[str, list[str]], stats: AccountStats, indicators: Indicators, settings: CampaignSettings
) -> dict[str, Fleet]:
    """Communities rotating through one shared pool of clients or datacenter exits, or handed conversations
    in one cyclic order, merged (groups of several only).

    A reseller spreads a hydra over payment cells that share nothing stable:
    each request leaves from a new residential address or datacenter exit and
    with another user agent. What the cells do share is the pool they rotate
    through: every cell shows many distinct clients (user agent and TLS
    fingerprint) or datacenter addresses for its few requests, and the values
    it shows are shown almost only by other rotating cells. Legitimate teams
    keep their clients and addresses; a value that many ordinary accounts show
    (a popular client, a cloud range) is not part of any pool. Hours into a
    campaign each cell has sent a handful of requests, too few to score alone;
    pooled, the fleet is plain to see. Cells fed by one load balancer keep
    handing conversations over in the same order
    (:func:`~distillguard.campaigns.dispatch.linked_by_dispatch`).
    """
    ids = list(cells)
    if len(ids) < 2:
        return {}
    features = stats.pool(cells).get()
    n = np.maximum(features.column("n_exchanges").to_numpy().astype(np.float64), 1.0)
    datacenter = features.column("datacenter_share").to_numpy()
    member_of = _member_codes(cells, indicators)
    pairs: list[tuple[int, int]] = []
    kinds: list[str] = []
    for kind, column in settings.pool_kinds.items():
        distinct = features.column(column).to_numpy().astype(np.float64)
        eligible = datacenter >= settings.pool_datacenter if kind in ("ip", "subnet") else True
        rotating = np.flatnonzero((distinct >= settings.pool_min) & (distinct / n >= settings.pool_rate) & eligible)
        if len(rotating) < 2:
            continue
        shown = (
            indicators.table.filter(pl.col("kind") == kind).select("i", "h").unique()
            .join(member_of, on="i", how="left")
            .with_columns(pl.col("c").is_in(rotating.tolist()).fill_null(False).alias("r"))
        )
        pool = (
            shown.group_by("h").agg(pl.col("r").mean().alias("purity"), pl.col("c").filter(pl.col("r")).unique())
            .filter((pl.col("purity") >= settings.pool_purity) & (pl.col("c").list.len() >= 2))
        )
        found = [(c[0], other) for c in pool.get_column("c").to_list() for other in c[1:]]
        pairs += found
        kinds += [kind] * len(found)
    dealt = linked_by_dispatch(indicators.starts.join(member_of, on="i").select(
        pl.col("c").alias("cell"), pl.col("i").alias("a"), "t"), settings.dispatch)
    pairs += dealt
    kinds += ["dispatch"] * len(dealt)
    if not pairs:
        return {}
    a, b = np.array(pairs).T
    linked = sparse.coo_array((np.ones(len(a), bool), (a, b)), shape=(len(ids), len(ids)))
    _, labels = connected_components(linked, directed=False)
    merged: dict[int, list[str]] = {}
    sizes = Counter(labels.tolist())
    for k, label in enumerate(labels):
        if sizes[label] > 1:
            merged.setdefault(int(label), []).extend(cells[ids[k]])
    through: dict[int, set[str]] = {}
    for first, kind in zip(a.tolist(), kinds):
        through.setdefault(int(labels[first]), set()).add(kind)
    return {
        "CMP-" + format(text_hash64(min(m)), "016x")[:10]: Fleet(
            sorted(m), sizes[label], tuple(k for k in (*settings.pool_kinds, "dispatch") if k in through[label]))
        for label, m in merged.items()
    }


def _member_codes(groups: dict[str, list[str]], indicators: Indicators) -> pl.DataFrame:
    """``i, c``: each member's account code in ``indicators`` and the position of its group in ``groups``."""
    return pl.DataFrame({
        "account_id": [m for members in groups.values() for m in members],
        "c": [k for k, members in enumerate(groups.values()) for _ in members],
    }, schema={"account_id": pl.String, "c": pl.Int64}).join(
        indicators.accounts.to_frame("account_id").with_row_index("i"), on="account_id"
    ).select(pl.col("i").cast(pl.UInt32), "c")


def _dispatch(groups: dict[str, list[str]], indicators: Indicators) -> dict[str, Dispatch]:
    """How conversations are dealt to each group's accounts."""
    codes = _member_codes(groups, indicators)
    members: dict[str, list[int]] = {gid: [] for gid in groups}
    ids = list(groups)
    for i, c in codes.iter_rows():
        members[ids[c]].append(i)
    return group_dispatch(indicators.starts.select(pl.col("i").alias("a"), "t"), members)


def _pooled_context(context: pa.Table | None, groups: dict[str, list[str]]) -> pa.Table | None:
    """The most common category and verification level of each group's members, and their median creation time."""
    if context is None:
        return None
    created = context.column("created_at").to_pylist() if "created_at" in context.column_names else None
    known = {
        a: (c, v, created[i] if created else None)
        for i, (a, c, v) in enumerate(zip(
            context.column("account_id").to_pylist(),
            context.column("category").to_pylist(),
            context.column("verification").to_pylist(),
        ))
    }
    rows = []
    for members in groups.values():
        records = [known.get(m, (None, None, None)) for m in members]
        times = sorted(t for _, _, t in records if t is not None)
        rows.append({
            "category": Counter(c for c, _, _ in records).most_common(1)[0][0],
            "verification": Counter(v for _, v, _ in records).most_common(1)[0][0],
            "created_at": times[len(times) // 2] if times else None,
        })
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("category", pa.string()), ("verification", pa.string()), ("created_at", pa.timestamp("us", tz="UTC"))]))


def _family_support(edges: pl.DataFrame, index: dict[str, int], membership: np.ndarray) -> dict[int, dict[str, int]]:
    """Per community, how many internal edges each linking family supports."""
    community = {name: int(membership[i]) for name, i in index.items()}
    internal = edges.select(
        pl.col("a").replace_strict(community, return_dtype=pl.Int64).alias("ca"),
        pl.col("b").replace_strict(community, return_dtype=pl.Int64).alias("cb"),
        "families",
    ).filter(pl.col("ca") == pl.col("cb"))
    counts = (
        internal.explode("families")
        .with_columns(pl.col("families").str.split("=").list.first().alias("family"))
        .group_by("ca", "family").len()
    )
    support: dict[int, dict[str, int]] = {}
    for c, family, n in counts.iter_rows():
        support.setdefault(int(c), {})[family] = int(n)
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
