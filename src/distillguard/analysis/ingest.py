"""Ingest: account records and exchange logs into the store, with their signals, batch by batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from distillguard.config.settings import IngestLimits
from distillguard.ingest import ReadBatch, Reject, RejectSink, read_accounts, read_exchanges
from distillguard.ingest.rejects import RAW_CHARS
from distillguard.signals import Signal, compute_signals
from distillguard.store import Store
from distillguard.store.duckdb_store import IngestedBatch

CONFLICT = "duplicate request_id with other content"


@dataclass
class IngestCounts:
    """What one ingest run read, stored and set aside (``duplicates``: exact repeats of a stored record;
    a repeated ``request_id`` with other content is rejected, so counted in ``rejected``)."""

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
    limits: IngestLimits | None = None,
    signals: dict[str, Signal] | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> IngestCounts:
    """Read account records and exchange logs into the store, batch by batch.

    ``limits`` bound each record (the defaults when None); ``signals`` replaces the signal registry
    (e.g. with the dataset-sweep signal added); ``advance`` is told the bytes of each batch read.
    """
    counts = IngestCounts()
    start = time.perf_counter()
    for path in accounts:
        for batch in read_accounts(path, batch_size, limits):
            rejects.add(batch.rejects)
            counts.accounts += store.upsert_accounts(batch.table)
    for path in logs:
        for batch in read_exchanges(path, batch_size, limits):
            rejects.add(batch.rejects)
            stored = store.ingest_batch(batch.table, compute_signals(batch.table, signals), keep_text=keep_text)
            counts.lines += batch.lines_read
            counts.new += stored.new
            counts.duplicates += stored.duplicates
            counts.bytes += batch.bytes_read
            rejects.add(conflict_rejects(str(path), batch, stored))
            advance(batch.bytes_read)
    counts.rejected = rejects.total
    counts.rejects_by_reason = dict(rejects.counts)
    counts.seconds = time.perf_counter() - start
    return counts


def conflict_rejects(file: str, batch: ReadBatch, stored: IngestedBatch) -> list[Reject]:
    """The rejects of the rows whose ``request_id`` was stored with other content (the stored row is kept)."""
    ids = batch.table.column("request_id")
    return [
        Reject(file, batch.row_lines[i], "request_id", f"{CONFLICT} (differs in {', '.join(differ)})",
               str(ids[i].as_py())[:RAW_CHARS])
        for i, differ in stored.conflicts
    ]
