"""Round-robin dispatch: conversations dealt to a group's accounts in a fixed cyclic order.

A reseller behind a load balancer hands each incoming conversation to the
next account of its pool, cycle after cycle: account B opens a conversation
right after account A every time A does. Within a group of accounts this shows
as *repeated hand-overs*: when A's conversation is followed (among the group's
conversation starts) by B's, A's previous one was followed by B's as well.
Chance repeats are rare once the group has more than a few accounts: under
independent use the follower is B with about B's share of the group's
conversations. The count of repeats against that expectation is a Poisson
tail, so a group of three accounts gets no credit for alternating, a pool of
a hundred gets it after a couple of cycles.

Between two groups only the *cross* hand-overs (from one group's account to
the other's) are counted: two slices of one pool keep handing over in the same
order, two independent pools interleave differently each cycle. The order says
nothing about intent (an enterprise spreading its batch jobs over its keys
deals them the same way): groups it joins are reported only when, pooled, they
are risky (:func:`distillguard.campaigns.cluster.merge_pools`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import poisson

from distillguard.campaigns.settings import DispatchSettings, load_campaign_settings


@dataclass(frozen=True)
class Dispatch:
    """A group's hand-overs: how many repeat the previous cycle's, of how many, and how many by chance."""

    repeats: int
    handovers: int
    expected: float
    accounts: int

    @property
    def p_value(self) -> float:
        """Chance of at least this many repeats under independent use."""
        return float(poisson.sf(self.repeats - 1, max(self.expected, 1e-9))) if self.repeats else 1.0

    def cyclic(self, settings: DispatchSettings) -> bool:
        """Whether the hand-overs follow a fixed cyclic order."""
        return (
            self.repeats >= settings.min_repeats
            and self.repeats >= settings.min_rate * self.handovers
            and self.p_value <= settings.max_p
        )

    @property
    def reason(self) -> str:
        """The order in plain words."""
        return (
            f"conversations are dealt to its {self.accounts:,} accounts in a fixed cyclic order, like a load "
            f"balancer's: {self.repeats:,} of {self.handovers:,} hand-overs repeat the previous cycle's "
            f"({self.expected:,.1f} expected by chance)"
        )


_STATS = {"g": pl.Int64, "repeats": pl.Int64, "handovers": pl.Int64, "expected": pl.Float64}


def handovers(starts: pl.DataFrame, cross: bool = False) -> pl.DataFrame:
    """Per group ``g``: ``repeats, handovers, expected`` of its conversation starts ``g, a, t``.

    ``a`` is the account, ``t`` the start time. With ``cross``, only hand-overs
    between accounts of different ``cell`` (a column then required) count.
    """
    keep = ["g", "a", "t"] + (["cell"] if cross else [])
    events = starts.select(keep).sort("g", "t", "a")
    sizes = events.group_by("g").agg(pl.len().alias("total"))
    shares = events.group_by("g", "a").agg(pl.len().alias("n"))
    moves = events.with_columns(
        pl.col("a").shift(1).over("g").alias("prev"),
        *([pl.col("cell").shift(1).over("g").alias("prev_cell")] if cross else []),
    ).filter(pl.col("prev").is_not_null() & (pl.col("prev") != pl.col("a")))
    moves = moves.with_columns(pl.col("a").shift(1).over("g", "prev").alias("last")).filter(pl.col("last").is_not_null())
    if cross:
        moves = moves.filter(pl.col("cell") != pl.col("prev_cell"))
    chance = (
        moves.join(shares, on=["g", "a"])
        .join(shares.rename({"a": "prev", "n": "n_prev"}), on=["g", "prev"])
        .join(sizes, on="g")
        .select("g", (pl.col("last") == pl.col("a")).alias("repeat"),
                (pl.col("n") / (pl.col("total") - pl.col("n_prev"))).alias("p"))
    )
    return chance.group_by("g").agg(
        pl.col("repeat").sum().cast(pl.Int64).alias("repeats"),
        pl.len().cast(pl.Int64).alias("handovers"),
        pl.col("p").sum().cast(pl.Float64).alias("expected"),
    ).cast(_STATS)


def group_dispatch(starts: pl.DataFrame, groups: Mapping[str, Sequence[Any]]) -> dict[str, Dispatch]:
    """Each group's :class:`Dispatch`, from conversation starts ``a, t`` (``groups`` lists ``a`` values)."""
    member = pl.DataFrame(
        {"a": [m for ms in groups.values() for m in ms], "g": [k for k, ms in enumerate(groups.values()) for _ in ms]},
        schema={"a": starts.schema["a"], "g": pl.Int64},
    )
    found = {row["g"]: row for row in handovers(starts.join(member, on="a")).iter_rows(named=True)}
    out = {}
    for k, (gid, members) in enumerate(groups.items()):
        row = found.get(k)
        counts = (row["repeats"], row["handovers"], row["expected"]) if row else (0, 0, 0.0)
        out[gid] = Dispatch(*counts, len(members))
    return out


def linked_by_dispatch(starts: pl.DataFrame, settings: DispatchSettings | None = None) -> list[tuple[int, int]]:
    """Pairs of cells (``cell`` codes) whose conversations are dealt by one cyclic order.

    ``starts`` holds ``cell, a, t``. A cell is tested only when its own
    hand-overs mostly repeat (``candidate_rate``); each is paired with the
    ``neighbours`` cells nearest in cycle period (the median time between an
    account's conversations: every account of one pool waits one whole cycle),
    and a pair is linked when the cross hand-overs of their most recent
    ``max_events`` conversation starts each are cyclic.
    """
    settings = settings or load_campaign_settings().cluster.dispatch
    own = handovers(starts.with_columns(pl.col("cell").alias("g")))
    steady = own.filter(pl.col("repeats") >= settings.candidate_rate * pl.col("handovers")).get_column("g")
    starts = (
        starts.filter(pl.col("cell").is_in(steady.implode()))
        .sort("cell", "t")
        .filter(pl.int_range(pl.len()).over("cell") >= pl.len().over("cell").cast(pl.Int64) - settings.max_events)
    )
    gaps = (
        starts.sort("cell", "a", "t")
        .with_columns(pl.col("t").diff().over("cell", "a").alias("gap"))
        .group_by("cell").agg(pl.col("gap").drop_nulls().median().alias("period"))
        .drop_nulls()
        .sort("period")
    )
    cells = gaps.get_column("cell").to_numpy()
    if len(cells) < 2:
        return []
    a = np.concatenate([cells[:-d] for d in range(1, min(settings.neighbours, len(cells) - 1) + 1)])
    b = np.concatenate([cells[d:] for d in range(1, min(settings.neighbours, len(cells) - 1) + 1)])
    pairs = pl.DataFrame({"g": np.arange(len(a)), "x": a, "y": b})
    events = pl.concat([
        pairs.join(starts, left_on="x", right_on="cell").select("g", pl.col("x").alias("cell"), "a", "t"),
        pairs.join(starts, left_on="y", right_on="cell").select("g", pl.col("y").alias("cell"), "a", "t"),
    ])
    linked = []
    for row in handovers(events, cross=True).iter_rows(named=True):
        found = Dispatch(row["repeats"], row["handovers"], row["expected"], 0)
        if found.cyclic(settings):
            linked.append((int(a[row["g"]]), int(b[row["g"]])))
    return linked
