"""Account-linking edges: per-family similarity of shared indicators, weighted by rarity.

Two accounts are linked when they share rare indicators in at least two
families (network, client, template, payment, signup, timing, partner,
behaviour, rotation), or a strong family alone (a payment fingerprint, an
indicator a partner reported, a proxy pool the accounts rotate through per
request: :func:`~distillguard.campaigns.pools.rotation_pools`). An address
shared by hundreds of unrelated accounts (a university NAT, a VPN exit) weighs little, and the network family alone never
links anyone; nor do the *weak families* together (``weak_families``: the
users of one VPN exit or carrier NAT who also share an app's request
parameters are no operation). In the families with a hub share (``hubs``), an indicator shown
by more than that share of the accounts (and more than ``hub_min`` of them)
is a hub: it makes no candidate pairs and is never matched, but still counts
in the account's norm. A hub most of whose holders are young accounts, well
above the population's share of young accounts, is a *young cohort*: a fleet
of new accounts on one harness's parameters, so many that in a small population
they make its values common. Its young holders are matched on it, its
established holders are not (see :func:`with_hubs`). Each family's vector is normalised per account, so two
accounts whose requests all carry an SDK's default parameters would otherwise
be identical in behaviour whatever its rarity, and two accounts that set one
rare thinking budget once among a hundred default requests would be too.

The work is bounded whatever the population: candidate pairs come only from
indicators of the *candidate kinds* (addresses, clients, payment, signup,
partner reports, rotation pools); a group of at most ``max_full`` accounts
gives all its pairs, a larger one a few random cycles through its members (an expander, so
that clustering does not cut it into arbitrary pieces). Each candidate pair is then scored exactly
in every family from sparse per-account vectors, cheapest family first, and
dropped as soon as it can no longer reach ``min_families``.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa
from scipy import sparse

from distillguard.campaigns.indicators import Indicators
from distillguard.campaigns.settings import LinkSettings, load_campaign_settings
from distillguard.core.ids import splitmix64

#: Families in scoring order: cheap and decisive first.
SCORE_ORDER: tuple[str, ...] = (
    "partner", "payment", "rotation", "signup", "client", "network", "behaviour", "timing", "template",
)


_EMPTY = {"a": pl.String, "b": pl.String, "weight": pl.Float64, "families": pl.List(pl.String), "strong": pl.Boolean}


def link_accounts(indicators: Indicators, settings: LinkSettings | None = None) -> pl.DataFrame:
    """Edges ``a, b, weight, families, strong`` between the accounts of ``indicators``.

    ``weight`` is the noisy-or of the per-family similarities that count as
    evidence; ``families`` lists them as ``family=similarity``; ``strong``
    says whether a strong family alone links the pair (a shared payment
    fingerprint: one operator, not a coincidence of software or exits).
    """
    settings = settings or load_campaign_settings().link
    if indicators.height == 0:
        return pl.DataFrame(schema=_EMPTY)
    n = len(indicators.accounts)
    coded = with_hubs(indicators.table.with_columns(pl.len().over("h").alias("m")), n, settings, indicators.young)
    candidates = coded.filter(
        pl.col("kind").cast(pl.String).is_in(settings.candidate_kinds) & (pl.col("m") >= 2) & ~pl.col("hub")
    )
    lo, hi = _candidates(pl.concat([candidates.select("i", "h", "m"), _cohort_candidates(coded, candidates, settings)]),
                         settings)
    sims: dict[str, np.ndarray] = {}
    strong = np.zeros(len(lo), bool)
    count = np.zeros(len(lo), np.int8)
    solid = np.zeros(len(lo), np.int8)
    present = set(coded.get_column("family").unique().to_list())
    families = [f for f in SCORE_ORDER if f in present]
    for done, family in enumerate(families):
        # one family's rows at a time: partitioning them all at once copied the whole table
        sim = _family_similarity(coded.filter(pl.col("family") == family), n, lo, hi,
                                 settings.min_shared.get(family, 1), settings)
        sim[sim < settings.family_min] = 0.0
        sims[family] = sim
        count += sim > 0
        if family not in settings.weak_families:
            solid += sim > 0
        bar = settings.strong_families.get(family)
        if bar is not None:
            strong |= sim >= bar
        left = len(families) - done - 1
        keep = strong | (count + left >= settings.min_families)
        if not keep.all():
            lo, hi, strong, count, solid = lo[keep], hi[keep], strong[keep], count[keep], solid[keep]
            sims = {f: s[keep] for f, s in sims.items()}
    linked = strong | ((count >= settings.min_families) & (solid > 0))
    return _edges(indicators.accounts, lo[linked], hi[linked], {f: s[linked] for f, s in sims.items()}, strong[linked])


def with_hubs(rows: pl.DataFrame, n: int, settings: LinkSettings, young: np.ndarray | None = None) -> pl.DataFrame:
    """``rows`` (with ``m``, the accounts showing each indicator) and ``hub``: whether it is a hub of its family.

    With ``young`` (by account code), a hub's young holders are no hub when it is a young cohort: at least
    ``cohort_share`` of its holders young, and that share ``cohort_lift`` times the population's or more.
    A popular SDK's defaults are held by accounts of every age; a fleet's harness by its new accounts.
    """
    share = pl.col("family").cast(pl.String).replace_strict(settings.hubs, default=None, return_dtype=pl.Float64)
    hub = share.is_not_null() & (pl.col("m") > settings.hub_min) & (pl.col("m") > share * n)
    rows = rows.with_columns(hub.fill_null(False).alias("hub"))
    if young is None or not young.any():
        return rows
    bar = max(settings.cohort_share, settings.cohort_lift * float(young.mean()))
    rows = rows.with_columns(pl.Series("_young", young.astype(bool)).gather(rows.get_column("i").cast(pl.Int64)))
    cohort = pl.col("hub") & pl.col("_young") & (pl.col("_young").mean().over("h") >= bar)
    return rows.with_columns(cohort.alias("cohort"), pl.when(cohort).then(False).otherwise(pl.col("hub")).alias("hub")
                             ).drop("_young")


def _cohort_candidates(coded: pl.DataFrame, candidates: pl.DataFrame, settings: LinkSettings) -> pl.DataFrame:
    """Candidate rows ``i, h, m`` pairing the members of a young cohort by each indicator of a family that is not weak
    they share (a client, an address, a card): a cohort of hundreds gives each member only a few random
    neighbours, most of whom share nothing else with it."""
    if "cohort" not in coded.columns:
        return pl.DataFrame(schema={"i": pl.UInt32, "h": pl.UInt64, "m": pl.UInt32})
    cohort = coded.filter(pl.col("cohort")).select("i", pl.col("h").alias("c"))
    solid = candidates.filter(~pl.col("family").cast(pl.String).is_in(settings.weak_families)).select("i", "h")
    joint = cohort.join(solid, on="i")
    key = splitmix64(joint.get_column("c").to_numpy() ^ splitmix64(joint.get_column("h").to_numpy()))
    return joint.select("i", pl.Series("h", key, pl.UInt64)).with_columns(pl.len().over("h").cast(pl.UInt32).alias("m")
                                                                          ).filter(pl.col("m") >= 2)


def _candidates(rows: pl.DataFrame, settings: LinkSettings) -> tuple[np.ndarray, np.ndarray]:
    """Distinct account pairs (lo < hi) sharing a candidate indicator, bounded per group."""
    groups = rows.select(pl.col("h").rank("dense").alias("g"), "i", "m")
    g = groups.get_column("g").to_numpy().astype(np.int64)
    i = groups.get_column("i").to_numpy().astype(np.int64)
    m = groups.get_column("m").to_numpy()
    parts = [_all_pairs(g[m <= settings.max_full], i[m <= settings.max_full], settings.max_full)]
    big = m > settings.max_full
    parts += [_cycle_pairs(g[big], i[big], settings.seed + r) for r in range(settings.cycles)]
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = np.sort((lo[lo != hi] << 32) | hi[lo != hi])
    first = np.ones(len(key), bool)  # np.unique(key), which took 5.9 s on large's 6.8 M pairs (numpy 2.4), this 0.6
    first[1:] = key[1:] != key[:-1]
    key = key[first]
    return (key >> 32).astype(np.int64), (key & 0xFFFFFFFF).astype(np.int64)


def _all_pairs(g: np.ndarray, i: np.ndarray, max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of members within each group (groups of at most ``max_size``)."""
    order = np.lexsort((i, g))
    g, i = g[order], i[order]
    a, b = [], []
    for d in range(1, max_size):
        if d >= len(g):
            break
        same = g[:-d] == g[d:]
        if not same.any():
            break
        a.append(i[:-d][same])
        b.append(i[d:][same])
    return (np.concatenate(a), np.concatenate(b)) if a else (np.empty(0, np.int64), np.empty(0, np.int64))


def _cycle_pairs(g: np.ndarray, i: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive members of each group in a random order, closed into a cycle."""
    if len(g) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    shuffle = splitmix64(i.astype(np.uint64) ^ splitmix64(np.array([seed], np.uint64))[0])
    order = np.lexsort((shuffle, g))
    g, i = g[order], i[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    nxt = np.arange(1, len(g) + 1)
    ends = np.r_[starts[1:], len(g)] - 1
    nxt[ends] = starts
    return i, i[nxt]


def _family_similarity(
    rows: pl.DataFrame, n: int, lo: np.ndarray, hi: np.ndarray, min_shared: int, settings: LinkSettings
) -> np.ndarray:
    """Cosine of the rarity-weighted indicator vectors of each pair, in one family.

    Hubs count in each account's norm but are never matched: an account whose
    requests mostly carry an SDK's defaults is barely similar to anyone in
    that family, however rare the rest of its values.
    """
    out = np.zeros(len(lo))
    if rows.height == 0 or len(lo) == 0:
        return out
    weighted = (
        rows.select("i", "h", "hub", (pl.col("x") * (1.0 + n / pl.col("m")).log()).alias("v"))
        .with_columns((pl.col("v") / (pl.col("v") ** 2).sum().sqrt().over("i")).alias("v"))
        .filter(~pl.col("hub"))
        .filter(pl.col("v").rank("ordinal", descending=True).over("i") <= settings.top_k)
        .with_columns(pl.col("h").rank("dense").alias("k"))
    )
    if weighted.height == 0:
        return out
    i = weighted.get_column("i").to_numpy()
    k = weighted.get_column("k").to_numpy() - 1
    shape = (n, int(k.max()) + 1)
    vectors = sparse.csr_array((weighted.get_column("v").to_numpy(), (i, k)), shape=shape)
    present = sparse.csr_array((np.ones(len(i), np.float32), (i, k)), shape=shape) if min_shared > 1 else None
    chunk = settings.chunk
    for start in range(0, len(lo), chunk):
        a, b = lo[start:start + chunk], hi[start:start + chunk]
        sim = np.asarray(vectors[a].multiply(vectors[b]).sum(axis=1)).ravel()
        if present is not None:
            shared = np.asarray(present[a].multiply(present[b]).sum(axis=1)).ravel()
            sim[shared < min_shared] = 0.0
        out[start:start + chunk] = np.clip(sim, 0.0, 1.0)
    return out


def _edges(names: pl.Series, lo: np.ndarray, hi: np.ndarray, sims: dict[str, np.ndarray],
           strong: np.ndarray) -> pl.DataFrame:
    """The edge frame, sorted by the accounts' names, built from arrays already in that order (every family's
    similarity turned into text for every edge and the frame sorted after held about a GiB on ``large``)."""
    if len(lo) == 0:
        return pl.DataFrame(schema=_EMPTY)
    rank = np.empty(len(names), np.int64)
    rank[names.arg_sort().to_numpy()] = np.arange(len(names))
    order = np.lexsort((rank[hi], rank[lo]))
    miss = np.ones(len(lo))
    for sim in sims.values():
        miss *= 1.0 - sim
    return pl.DataFrame({
        "a": names.gather(lo[order]), "b": names.gather(hi[order]), "weight": (1.0 - miss)[order],
        "families": _family_lists(sims, order), "strong": strong[order],
    })


def _family_lists(sims: dict[str, np.ndarray], order: np.ndarray) -> pl.Series:
    """Per edge, in ``order``, ``family=similarity`` (rounded to 2 places) of each family that links it, in the
    order of ``sims``."""
    position = np.empty(len(order), np.int32)
    position[order] = np.arange(len(order), dtype=np.int32)
    rows, kinds, values = [np.empty(0, np.int32)], [np.empty(0, np.uint8)], [np.empty(0)]
    for k, sim in enumerate(sims.values()):
        at = np.flatnonzero(sim > 0)
        rows.append(position[at])
        kinds.append(np.full(len(at), k, np.uint8))
        values.append(sim[at])
    row = np.concatenate(rows)
    by_row = np.argsort(row, kind="stable")  # within an edge, families stay in the order of sims
    labels = dict(enumerate(f"{family}=" for family in sims))
    text = pl.DataFrame({"k": np.concatenate(kinds)[by_row], "v": np.concatenate(values)[by_row]}).select(
        pl.concat_str(pl.col("k").replace_strict(labels, return_dtype=pl.String), pl.col("v").round(2).cast(pl.String)))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(order)))]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), text.to_series().to_arrow())
    return cast(pl.Series, pl.from_arrow(lists)).alias("families")
