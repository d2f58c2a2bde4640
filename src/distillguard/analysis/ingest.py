"""Ingest: account records and exchange logs into the store, with their signals, batch by batch.

Exchange logs are cut into work items in this process: the row-group parts of a Parquet file and the byte
ranges of a big JSON-lines file (each read and decoded by the worker that parses it), else chunks of records.
Parsing and signals run in a pool of worker processes (one per core by default), and the store is written here,
in item order. A bounded number of items is in flight, so memory stays bounded; results are taken in the order
the items were cut, so the stored rows do not depend on the worker count or on timing.
"""

from __future__ import annotations

import gc
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.config.settings import IngestLimits
from distillguard.core.schema import TEXT_COLUMNS
from distillguard.ingest import ReadBatch, Reject, RejectSink, read_accounts
from distillguard.ingest.readers import ChunkParser, LinePart, ParquetPart, RawChunk, work_items
from distillguard.ingest.rejects import RAW_CHARS
from distillguard.signals import Signal, SignalCache, compute_signals_many
from distillguard.store import Store
from distillguard.store.duckdb_store import request_rids

CONFLICT = "duplicate request_id with other content"

#: Rows in a DuckDB row group. The store is written in transactions of whole row groups: their rows go straight
#: to the database file in their final form, where a part row group left by a commit is rewritten, merged with
#: the next, at the next checkpoint (on large about 2 CPU us a row, in one thread, paid by a later commit).
ROW_GROUP = 122_880
#: Or all queued batches once they hold this many bytes (text kept), whole row groups or not: bounds memory.
STORE_BYTES = 256 << 20
#: Logs smaller than this are ingested in this process: starting workers (each imports the package and builds
#: its CoT model, some seconds) costs more than it saves there (measured: 100 K exchanges of JSON lines, 190 MB).
POOL_MIN_BYTES = 256 << 20


@dataclass
class IngestCounts:
    """What one ingest run read, stored and set aside (``duplicates``: exact repeats of a stored record;
    a repeated ``request_id`` with other content is rejected, so counted in ``rejected``).

    ``phases`` holds the CPU seconds spent parsing and computing signals (summed over workers) and the
    wall seconds of the store writes (in this process); ``workers`` the worker processes used.
    """

    lines: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: int = 0
    accounts: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    phases: dict[str, float] = field(default_factory=lambda: {"parse": 0.0, "signals": 0.0, "store": 0.0})


_Done = tuple[ReadBatch, pa.Table, npt.NDArray[np.uint64], float, float]
"""A parsed chunk: its batch, its signals, its rows' store keys, and the CPU seconds spent parsing and computing
signals."""
_Item = RawChunk | ParquetPart | LinePart


@dataclass(frozen=True)
class _Work:
    """What a worker does with a work item: parse each of its chunks, compute their signals (over all the item's
    chunks at once: prompts repeat across them), drop their texts unless kept."""

    parser: ChunkParser
    signals: dict[str, Signal] | None
    keep_text: bool
    cache: SignalCache = field(default_factory=SignalCache)

    def __call__(self, item: _Item) -> list[_Done]:
        return self.chunks([item] if isinstance(item, RawChunk) else item.chunks())

    def chunks(self, chunks: Iterable[RawChunk]) -> list[_Done]:
        """The batch of each of ``chunks`` with its signals and its rows' store keys; the CPU seconds of the
        signals are shared out by rows.

        The cyclic garbage collector is paused meanwhile: parsing makes and keeps a few hundred thousand
        objects (decoded bodies, row values), none in a cycle, and the collections they set off cost about
        a fifth of the parsing CPU. It runs again after, as usual.
        """
        enabled = gc.isenabled()
        gc.disable()
        try:
            batches: list[ReadBatch] = []
            parse_s: list[float] = []
            for chunk in chunks:  # each raw chunk is dropped once parsed
                t0 = time.process_time()
                batches.append(self.parser(chunk))
                parse_s.append(time.process_time() - t0)
            t1 = time.process_time()
            signals = compute_signals_many([batch.table for batch in batches], self.signals, cache=self.cache)
            signal_s = time.process_time() - t1
        finally:
            if enabled:
                gc.enable()
        rows = sum(batch.table.num_rows for batch in batches)
        done: list[_Done] = []
        for batch, sig, p_s in zip(batches, signals, parse_s, strict=True):
            if not self.keep_text:  # the store would drop them: do not ship them back
                table = batch.table
                n = table.num_rows
                for name in TEXT_COLUMNS:
                    table = table.set_column(table.schema.get_field_index(name), name, pa.nulls(n, pa.string()))
                batch.table = table
            share = batch.table.num_rows / rows if rows else 1 / len(batches)
            done.append((batch, sig, request_rids(batch.table), p_s, signal_s * share))
        return done


_worker: _Work | None = None


def _init_worker(work: _Work) -> None:
    global _worker
    _worker = work


def _run_worker(item: _Item) -> list[_Done]:
    if _worker is None:
        raise RuntimeError("ingest worker not initialised")
    return _worker(item)


def default_workers(logs: list[Path]) -> int:
    """Worker processes for ``logs``: one per usable core, none (this process) for small logs or one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    size = sum(_data_bytes(p) for p in logs if p.is_file())
    return cores if cores > 1 and size >= POOL_MIN_BYTES else 0


def _data_bytes(path: Path) -> int:
    """The bytes of ``path``; of a Parquet file, its data uncompressed (as its metadata says)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            meta = pq.read_metadata(path)
        except (OSError, pa.ArrowException):
            return path.stat().st_size  # reading it names the error
        return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return path.stat().st_size


def _processed(items: Iterator[_Item], work: _Work, pool: ProcessPoolExecutor | None, workers: int
               ) -> Iterator[_Done]:
    """``work`` of each item's chunks, in order, the line numbers of a file's line parts made the file's."""
    before = 0  # lines of the parts already taken
    for item, dones in _results(items, work, pool, workers):
        if isinstance(item, LinePart):
            dones = [(done[0].after(before), *done[1:]) for done in dones]
            before += sum(done[0].lines_read for done in dones)
        yield from dones


def _results(items: Iterator[_Item], work: _Work, pool: ProcessPoolExecutor | None, workers: int
             ) -> Iterator[tuple[_Item, list[_Done]]]:
    """Each item with ``work`` of its chunks, in order: in ``pool`` (at most ``2 × workers`` chunks or
    ``workers + 1`` parts pending), else here."""
    if pool is None:
        for item in items:
            yield item, work(item)
        return
    pending: deque[tuple[_Item, Future[list[_Done]]]] = deque()
    for item in items:
        pending.append((item, pool.submit(_run_worker, item)))
        if len(pending) >= (2 * workers if isinstance(item, RawChunk) else workers + 1):
            taken, future = pending.popleft()
            yield taken, future.result()
    while pending:
        taken, future = pending.popleft()
        yield taken, future.result()


_Queued = tuple[ReadBatch, pa.Table, npt.NDArray[np.uint64]]


class _Writer:
    """Writes parsed batches to the store in transactions of whole row groups (:data:`ROW_GROUP`, the rest
    queued for the next) or of every queued batch (:data:`STORE_BYTES`, a new file, read rejects), adding each
    batch's rejects in file order: its read rejects, then its conflicts."""

    def __init__(self, store: Store, rejects: RejectSink, counts: IngestCounts, keep_text: bool,
                 advance: Callable[[int], None]) -> None:
        self.store, self.rejects, self.counts, self.keep_text, self.advance = store, rejects, counts, keep_text, advance
        self.file = ""
        self.queued: list[_Queued] = []

    def add(self, file: str, batch: ReadBatch, signals: pa.Table, rids: npt.NDArray[np.uint64]) -> None:
        """Queue ``batch`` for the store; its read rejects are added first (under ``strict``, raised before
        anything of it is stored)."""
        if batch.rejects or file != self.file:
            self.flush()
            self.rejects.add(batch.rejects)
        self.file = file
        self.queued.append((batch, signals, rids))
        rows = sum(queued.table.num_rows for queued, _, _ in self.queued)
        if sum(queued.table.nbytes for queued, _, _ in self.queued) >= STORE_BYTES or self.rejects.strict:
            self.flush()  # strict: stop at once
        elif rows >= ROW_GROUP:
            self.flush(rows - rows % ROW_GROUP)

    def flush(self, rows: int | None = None) -> None:
        """Store the first ``rows`` queued rows (all when None) in one transaction and add their conflicts; a batch
        cut there stays queued from its cut on (its lines and bytes counted with that part)."""
        if rows is None:
            stored, self.queued = self.queued, []
        else:
            stored = []
            while rows and self.queued:
                item = self.queued.pop(0)
                if item[0].table.num_rows > rows:
                    item, rest = _cut(item, rows)
                    self.queued.insert(0, rest)
                stored.append(item)
                rows -= item[0].table.num_rows
        if not stored:
            return
        batches = [batch for batch, _, _ in stored]
        t0 = time.perf_counter()
        result = self.store.ingest_batch(pa.concat_tables([b.table for b in batches]),
                                         pa.concat_tables([sig for _, sig, _ in stored]), keep_text=self.keep_text,
                                         rids=np.concatenate([rids for _, _, rids in stored]))
        self.counts.phases["store"] += time.perf_counter() - t0
        self.counts.new += result.new
        self.counts.duplicates += result.duplicates
        starts = np.cumsum([0] + [b.table.num_rows for b in batches])
        conflicts: list[list[tuple[int, list[str]]]] = [[] for _ in batches]
        for i, differ in result.conflicts:
            k = int(np.searchsorted(starts, i, side="right")) - 1
            conflicts[k].append((i - int(starts[k]), differ))
        for batch, found in zip(batches, conflicts, strict=True):
            self.counts.lines += batch.lines_read
            self.counts.bytes += batch.bytes_read
            self.rejects.add(conflict_rejects(self.file, batch, found))
            self.advance(batch.bytes_read)


def _cut(item: _Queued, at: int) -> tuple[_Queued, _Queued]:
    """A queued batch as its first ``at`` rows and the rest; the rest carries the lines and bytes it read (its
    read rejects were added when it was queued)."""
    batch, signals, rids = item
    head = ReadBatch(batch.table.slice(0, at), [], 0, 0, batch.row_lines[:at])
    rest = ReadBatch(batch.table.slice(at), [], batch.lines_read, batch.bytes_read, batch.row_lines[at:])
    return (head, signals.slice(0, at), rids[:at]), (rest, signals.slice(at), rids[at:])


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
    workers: int | None = None,
) -> IngestCounts:
    """Read account records and exchange logs into the store, batch by batch.

    ``limits`` bound each record (the defaults when None); ``signals`` replaces the signal registry
    (e.g. with the dataset-sweep signal added); ``advance`` is told the bytes of each batch read;
    ``workers`` processes parse and compute signals (0: this process; None: :func:`default_workers`).
    The store is written in transactions of whole row groups (:data:`ROW_GROUP`) where it can be; into an empty
    store, without the key index, which is built at the end (:meth:`~distillguard.store.Store.bulk_load`).
    """
    counts = IngestCounts()
    start = time.perf_counter()
    for path in accounts:
        for batch in read_accounts(path, batch_size, limits):
            rejects.add(batch.rejects)
            counts.accounts += store.upsert_accounts(batch.table)
    counts.workers = default_workers(logs) if workers is None else workers
    work = _Work(ChunkParser(limits), signals, keep_text)
    pool = None
    if counts.workers > 0:
        pool = ProcessPoolExecutor(counts.workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                   initargs=(work,))
    writer = _Writer(store, rejects, counts, keep_text, advance)
    # Where workers take the cores, DuckDB writes on one thread: several of its own contending with them cost more
    # (20 row groups of large: this process 22.3 -> 18.0 CPU s, the ingest 58.0 -> 54.1 s).
    try:
        with store.bulk_load(), store.threads_for(1) if pool is not None else nullcontext():
            for path in logs:
                for batch, sig, rids, parse_s, signal_s in _processed(work_items(path, batch_size), work, pool,
                                                                      counts.workers):
                    counts.phases["parse"] += parse_s
                    counts.phases["signals"] += signal_s
                    writer.add(str(path), batch, sig, rids)
            writer.flush()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    counts.rejected = rejects.total
    counts.rejects_by_reason = dict(rejects.counts)
    counts.seconds = time.perf_counter() - start
    return counts


def conflict_rejects(file: str, batch: ReadBatch, conflicts: list[tuple[int, list[str]]]) -> list[Reject]:
    """The rejects of the rows (by index in ``batch``) whose ``request_id`` was stored with other content
    (the stored row is kept), with the fields that differ."""
    ids = batch.table.column("request_id")
    return [
        Reject(file, batch.row_lines[i], "request_id", f"{CONFLICT} (differs in {', '.join(differ)})",
               str(ids[i].as_py())[:RAW_CHARS])
        for i, differ in conflicts
    ]
