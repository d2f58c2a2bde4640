"""The analysis pipeline: ingest → signals → store → account statistics → decisions → outputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa

from distillguard.accounts import STAT_INPUT_COLUMNS, SWEEP_COLUMN, AccountStats, IpIntel
from distillguard.cli.assess import Assessment
from distillguard.core.decision import Decision
from distillguard.ingest import RejectSink, read_accounts, read_exchanges
from distillguard.signals import Signal, compute_signals
from distillguard.store import Store

_STATS_SQL = (
    "SELECT "
    + ", ".join(f"s.{c}" if c in {"cot_score", "reasoning_requested", "capability", "template_key",
                                  "prompt_hash", "reasoning_share", "output_len"} else f"e.{c}"
                for c in STAT_INPUT_COLUMNS)
    + f", s.{SWEEP_COLUMN} FROM exchanges e JOIN signals s USING (rid)"
    " WHERE e.ts >= $lo AND e.ts < $hi AND s.ts >= $lo AND s.ts < $hi ORDER BY e.ts, e.rid"
)
SLICE_ROWS = 500_000
"""Target exchanges per time slice: a sorted result is held whole by DuckDB, so sort slice by slice."""


@dataclass
class IngestCounts:
    """What one ingest run read, stored and set aside."""

    lines: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: int = 0
    accounts: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)


def ingest(
    store: Store,
    logs: list[Path],
    accounts: list[Path],
    rejects: RejectSink,
    *,
    batch_size: int,
    keep_text: bool,
    signals: dict[str, Signal] | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> IngestCounts:
    """Read account records and exchange logs into the store, batch by batch.

    ``signals`` replaces the signal registry (e.g. with the dataset-sweep signal added).
    """
    counts = IngestCounts()
    start = time.perf_counter()
    for path in accounts:
        for batch in read_accounts(path, batch_size):
            rejects.add(batch.rejects)
            counts.accounts += store.upsert_accounts(batch.table)
    for path in logs:
        for batch in read_exchanges(path, batch_size):
            rejects.add(batch.rejects)
            new = store.ingest_batch(batch.table, compute_signals(batch.table, signals), keep_text=keep_text)
            counts.lines += batch.lines_read
            counts.new += new
            counts.duplicates += batch.table.num_rows - new
            counts.bytes += batch.bytes_read
            advance(batch.bytes_read)
    counts.rejected = rejects.total
    counts.rejects_by_reason = dict(rejects.counts)
    counts.seconds = time.perf_counter() - start
    return counts


def stored_batches(store: Store, batch_size: int) -> Iterator[pa.Table]:
    """Every stored exchange with its signals, in time order, as statistics input.

    The store is read in time slices of about :data:`SLICE_ROWS` exchanges, each
    sorted on its own, so memory stays bounded whatever the store's size (both
    tables are filtered on ``ts``, which DuckDB's zone maps prune cheaply).
    """
    lo, hi, n = store.query("SELECT min(ts), max(ts), count(*) FROM exchanges").to_pylist()[0].values()
    if not n:
        return
    width = max((hi - lo) * SLICE_ROWS / n, timedelta(minutes=1))
    start = lo
    while start <= hi:
        yield from store.scan(_STATS_SQL, {"lo": start, "hi": start + width}, batch_size=batch_size)
        start += width


def build_stats(store: Store, intel: IpIntel, batch_size: int, advance: Callable[[int], None] = lambda n: None) -> AccountStats:
    """Account statistics over everything in the store."""
    stats = AccountStats(intel)
    for batch in stored_batches(store, batch_size):
        stats.update(batch)
        advance(batch.num_rows)
    return stats


def earlier_flags(store: Store) -> dict[str, datetime]:
    """The first time each account was flagged by any earlier run."""
    rows = store.query("SELECT account_id, min(flagged_at) FROM decisions WHERE flagged GROUP BY account_id")
    return dict(zip(rows.column(0).to_pylist(), rows.column(1).to_pylist()))


def data_end(store: Store) -> datetime | None:
    """Time of the newest stored exchange."""
    return store.query("SELECT max(ts) FROM exchanges").column(0)[0].as_py()


@dataclass
class ReplayStep:
    """One re-decision during a replay."""

    at: datetime
    exchanges: int
    flagged: int
    campaigns: int


def replay(
    store: Store,
    intel: IpIntel,
    decide_at: Callable[[AccountStats, datetime], Assessment],
    every: timedelta,
    batch_size: int,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[Assessment | None, dict[str, datetime], list[ReplayStep]]:
    """Feed the stored exchanges in time order and re-decide at the end of every interval.

    Returns the last assessment, the end of the first interval at which each
    account was flagged, and one step per interval.
    """
    stats = AccountStats(intel)
    first_flag: dict[str, datetime] = {}
    steps: list[ReplayStep] = []
    boundary: datetime | None = None
    last: Assessment | None = None
    seen = 0

    def decide_now(at: datetime) -> None:
        nonlocal last
        last = decide_at(stats, at)
        for d in last.decisions:
            if d.flagged:
                first_flag.setdefault(d.account_id, at)
        steps.append(ReplayStep(at, seen, sum(d.flagged for d in last.decisions), len(last.campaigns)))

    for batch in stored_batches(store, batch_size):
        ts = batch.column("ts").cast(pa.timestamp("ms", tz="UTC")).to_pylist()
        if boundary is None:
            boundary = _floor(ts[0], every) + every
        start = 0
        while start < len(ts):
            end = _first_at_or_after(ts, boundary, start)
            if end > start:
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
    return last, first_flag, steps


def _floor(t: datetime, every: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return epoch + ((t - epoch) // every) * every


def _first_at_or_after(ts: list[datetime], boundary: datetime, start: int) -> int:
    """Index of the first timestamp ≥ boundary at or after ``start`` (ts sorted)."""
    lo, hi = start, len(ts)
    while lo < hi:
        mid = (lo + hi) // 2
        if ts[mid] < boundary:
            lo = mid + 1
        else:
            hi = mid
    return lo


def write_outputs(out_dir: Path, assessment: Assessment, flagged_at: dict[str, datetime]) -> None:
    """Write ``accounts.jsonl`` and ``campaigns.jsonl`` (the output contract)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "accounts.jsonl").open("wb") as fh:
        for d in assessment.decisions:
            fh.write(orjson.dumps(_account_record(d, flagged_at.get(d.account_id))) + b"\n")
    with (out_dir / "campaigns.jsonl").open("wb") as fh:
        for record in assessment.campaigns:
            fh.write(orjson.dumps(record) + b"\n")


def _account_record(d: Decision, flagged_at: datetime | None) -> dict[str, object]:
    return {
        "account_id": d.account_id,
        "risk": round(d.risk, 4),
        "action": d.action.value,
        "flagged": d.flagged,
        "campaign_id": d.campaign_id,
        "flagged_at": flagged_at.isoformat() if d.flagged and flagged_at else None,
        "reasons": list(d.reasons),
    }


def decision_rows(run_id: str, decisions: list[Decision], flagged_at: dict[str, datetime]) -> pa.Table:
    """The decisions as rows of the store's ``decisions`` table."""
    return pa.table({
        "run_id": [run_id] * len(decisions),
        "account_id": [d.account_id for d in decisions],
        "risk": pa.array([d.risk for d in decisions], pa.float64()),
        "action": [d.action.value for d in decisions],
        "flagged": [d.flagged for d in decisions],
        "campaign_id": pa.array([d.campaign_id for d in decisions], pa.string()),
        "flagged_at": pa.array([flagged_at.get(d.account_id) if d.flagged else None for d in decisions],
                               pa.timestamp("us", tz="UTC")),
        "reasons": [list(d.reasons) for d in decisions],
    })


def campaign_rows(run_id: str, campaigns: list[dict[str, object]]) -> pa.Table:
    """The campaign records as rows of the store's ``campaigns`` table."""
    return pa.table({
        "run_id": [run_id] * len(campaigns),
        "campaign_id": [c["campaign_id"] for c in campaigns],
        "n_accounts": pa.array([c["n_accounts"] for c in campaigns], pa.int32()),
        "n_exchanges": pa.array([c["n_exchanges"] for c in campaigns], pa.int64()),
        "first_seen": pa.array([datetime.fromisoformat(str(c["first_seen"])) for c in campaigns], pa.timestamp("us", tz="UTC")),
        "last_seen": pa.array([datetime.fromisoformat(str(c["last_seen"])) for c in campaigns], pa.timestamp("us", tz="UTC")),
        "confidence": pa.array([c["confidence"] for c in campaigns], pa.float64()),
        "record": [orjson.dumps(c).decode() for c in campaigns],
    })
