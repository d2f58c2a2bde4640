"""Replay: the stored traffic fed in time order, re-decided at the end of every interval, as a deployment would."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa

from distillguard.accounts import AccountStats, IpIntel
from distillguard.analysis.assess import Assessment
from distillguard.analysis.stats import sketch_key, stored_batches
from distillguard.analysis.timings import Timings
from distillguard.store import Store


@dataclass
class ReplayStep:
    """One re-decision during a replay."""

    at: datetime
    exchanges: int
    flagged: int
    campaigns: int


@dataclass
class Replay:
    """The last assessment, when each account was first flagged (end of that interval), and every step."""

    last: Assessment | None
    first_flag: dict[str, datetime]
    steps: list[ReplayStep]


def replay(
    store: Store,
    intel: IpIntel,
    decide_at: Callable[[AccountStats, datetime], Assessment],
    every: timedelta,
    batch_size: int,
    advance: Callable[[int], None] = lambda n: None,
    timings: Timings | None = None,
) -> Replay:
    """Feed the stored exchanges in time order and call ``decide_at`` at the end of every interval; ``timings``
    adds up the statistics' updates and the decisions (the latter's steps too, when ``decide_at`` records them)."""
    timings = timings or Timings()
    stats = AccountStats(intel, key=sketch_key(store))
    result = Replay(None, {}, [])
    boundary: datetime | None = None
    seen = 0

    def decide_now(at: datetime) -> None:
        with timings.phase("assess"):
            last = result.last = decide_at(stats, at)
        for d in last.decisions:
            if d.flagged:
                result.first_flag.setdefault(d.account_id, at)
        result.steps.append(ReplayStep(at, seen, sum(d.flagged for d in last.decisions), len(last.campaigns)))

    for batch in stored_batches(store, batch_size):
        ts = batch.column("ts").cast(pa.timestamp("ms", tz="UTC")).to_pylist()
        if boundary is None:
            boundary = _floor(ts[0], every) + every
        start = 0
        while start < len(ts):
            end = bisect_left(ts, boundary, lo=start)
            if end > start:
                with timings.phase("account fingerprints"):
                    stats.update(batch.slice(start, end - start))
                seen += end - start
                advance(end - start)
            if end == len(ts):
                break
            decide_now(boundary)
            boundary += every
            start = end
    if boundary is not None:
        decide_now(boundary)
    return result


def _floor(t: datetime, every: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return epoch + ((t - epoch) // every) * every
