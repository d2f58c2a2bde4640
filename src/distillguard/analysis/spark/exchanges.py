"""Exchange logs into Spark: the same readers and signal functions as the embedded ingest, one task per file.

Each task reads its files with :func:`~distillguard.ingest.read_exchanges` (the same normalisation and rejects
with file, line and reason) and computes :func:`~distillguard.signals.compute_signals` on every Arrow batch,
through ``mapInArrow``. Of the rows sharing a ``request_id`` the first in input order (file, then line) is kept,
as the embedded store keeps the first it stored; an exact repeat is a duplicate, a repeat with other content a
reject naming the fields that differ. The texts never leave the read tasks: no query reads them, and a repeat's
texts are compared by their 64-bit hashes (when the texts are kept, as the embedded store compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from distillguard.analysis.ingest import CONFLICT
from distillguard.analysis.timings import Timings
from distillguard.config.settings import IngestLimits
from distillguard.core.errors import IngestError
from distillguard.core.ids import text_hash64
from distillguard.core.schema import EXCHANGE_SCHEMA, TEXT_COLUMNS
from distillguard.ingest import Reject, read_exchanges
from distillguard.ingest.readers import FORMATS, file_format
from distillguard.ingest.rejects import RAW_CHARS
from distillguard.signals import Signal, compute_signals
from distillguard.signals.registry import SIGNAL_SCHEMA
from distillguard.store.spark import UNSIGNED_64, to_spark_arrow

_ORDER = ("file", "line")
_REJECT = ("reject_field", "reject_reason", "reject_raw")
_SUMMARY = ("lines", "bytes")
_TS = pa.timestamp("us", tz="UTC")
_EXCHANGE_COLUMNS = tuple(f.name for f in EXCHANGE_SCHEMA)
_KEPT_COLUMNS = tuple(c for c in _EXCHANGE_COLUMNS if c not in TEXT_COLUMNS)
_TEXT_HASHES = {f"_text_{name}": name for name in TEXT_COLUMNS}
"""The column standing for each text in the read rows: its :func:`text_hash64`, compared for repeats."""


def log_files(paths: list[Path]) -> list[Path]:
    """The log files of ``paths``, a directory standing for every log file under it (e.g. partitioned Parquet),
    in name order; IngestError for a path that is neither or a file of unknown format."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", "."))
                           and any(p.name.lower().endswith(s) for s in FORMATS))
            if not found:
                raise IngestError(f"{path}: no log files ({', '.join(sorted(FORMATS))}) in this directory")
            files.extend(found)
        elif path.is_file():
            file_format(path)
            files.append(path)
        else:
            raise IngestError(f"{path}: no such file")
    return files


def row_schema(signals: dict[str, Signal] | None) -> pa.Schema:
    """What each read task returns: order keys, ``rid``, the exchange columns (each text as its hash) and signal
    columns, a reject or a file summary."""
    signal_fields = SIGNAL_SCHEMA if signals is None else pa.schema([pa.field(n, s.dtype) for n, s in signals.items()])
    fields = [pa.field("file", pa.int32()), pa.field("line", pa.int64()), pa.field("rid", UNSIGNED_64)]
    fields += [pa.field(f.name, _TS if f.name == "ts" else f.type) for f in EXCHANGE_SCHEMA if f.name not in TEXT_COLUMNS]
    fields += [pa.field(name, pa.int64()) for name in _TEXT_HASHES]
    fields += [pa.field(f.name, UNSIGNED_64 if pa.types.is_uint64(f.type) else f.type)
               for f in signal_fields if f.name != "request_id"]
    fields += [pa.field(name, pa.string()) for name in _REJECT] + [pa.field(name, pa.int64()) for name in _SUMMARY]
    return pa.schema(fields)


def _filled(schema: pa.Schema, n: int, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema], schema=schema)


def read_task(schema: pa.Schema, batch_size: int, limits: IngestLimits, signals: dict[str, Signal] | None,
              keep_text: bool) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function reading the files (``file, path``) it is given into rows of ``schema``."""

    def read(files: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for chunk in files:
            for index, path in zip(chunk.column("file").to_pylist(), chunk.column("path").to_pylist()):
                lines = size = 0
                for batch in read_exchanges(path, batch_size, limits):
                    lines += batch.lines_read
                    size += batch.bytes_read
                    if batch.rejects:
                        yield _rejects(schema, index, batch.rejects)
                    if batch.table.num_rows:
                        yield _exchanges(schema, index, batch.table, batch.row_lines, signals, keep_text)
                yield _filled(schema, 1, {"file": pa.array([index]), "lines": pa.array([lines]), "bytes": pa.array([size])})

    return read


def _rejects(schema: pa.Schema, index: int, rejects: list[Reject]) -> pa.RecordBatch:
    n = len(rejects)
    return _filled(schema, n, {
        "file": pa.array([index] * n), "line": pa.array([r.line for r in rejects]),
        "reject_field": pa.array([r.field for r in rejects], pa.string()),
        "reject_reason": pa.array([r.reason for r in rejects]), "reject_raw": pa.array([r.raw for r in rejects]),
    })


def _exchanges(schema: pa.Schema, index: int, table: pa.Table, row_lines: list[int], signals: dict[str, Signal] | None,
               keep_text: bool) -> pa.RecordBatch:
    n = table.num_rows
    computed = to_spark_arrow(compute_signals(table, signals).drop_columns(["request_id"]))
    rids = np.fromiter((text_hash64(r) for r in table.column("request_id").to_pylist()), np.uint64, n)
    columns: dict[str, pa.Array] = {
        "file": pa.array(np.full(n, index, np.int32)), "line": pa.array(row_lines, pa.int64()),
        "rid": pa.array(rids, pa.uint64()).cast(UNSIGNED_64),
    }
    for name in _KEPT_COLUMNS:
        columns[name] = table.column(name).combine_chunks()
    if keep_text:
        for hashed, name in _TEXT_HASHES.items():
            columns[hashed] = _text_hashes(table.column(name))
    for name in computed.column_names:
        columns[name] = computed.column(name).combine_chunks()
    return _filled(schema, n, columns)


def _text_hashes(texts: pa.ChunkedArray) -> pa.Array:
    """:func:`text_hash64` of each text as a signed 64-bit integer (its bits), null for a null text."""
    values = np.fromiter((0 if t is None else text_hash64(t) for t in texts.to_pylist()), np.uint64, len(texts))
    return pa.array(values.view(np.int64), mask=texts.is_null().to_numpy(zero_copy_only=False))


@dataclass
class SparkLogs:
    """The logs as read on Spark: kept exchanges with their signals, what was set aside, and the input's extent."""

    rows: DataFrame
    """One row per kept exchange: ``rid``, the exchange columns (texts dropped) and the signal columns."""
    rejects: list[Reject]
    lines: int
    bytes: int
    duplicates: int
    signal_columns: tuple[str, ...]
    kept: int
    """The rows of :attr:`rows`."""
    end: datetime | None
    """The last exchange's time."""
    persisted: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        """Drop the cached data of this read."""
        for frame in self.persisted:
            frame.unpersist()


def read_logs(session: SparkSession, files: list[Path], *, batch_size: int, limits: IngestLimits,
              signals: dict[str, Signal] | None, keep_text: bool, timings: Timings | None = None) -> SparkLogs:
    """Read ``files`` on Spark (one task per file), set rejects and repeats aside, and keep the first of each exchange.

    ``timings`` records the three actions that do the work: ``read and signals on Spark`` (the read tasks through
    ``mapInArrow``, their rows cached, the rejects and file summaries collected), ``repeated request ids`` (the
    repeats counted and the conflicting ones collected) and ``kept rows cached`` (the first of each exchange).
    """
    timings = timings or Timings()
    schema = row_schema(signals)
    listed = session.sparkContext.parallelize([(i, str(p)) for i, p in enumerate(files)], max(len(files), 1))
    paths = session.createDataFrame(listed, "file INT, path STRING")
    raw = paths.mapInArrow(read_task(schema, batch_size, limits, signals, keep_text), from_arrow_schema(schema))
    raw = raw.persist(StorageLevel.MEMORY_AND_DISK)
    names = [str(p) for p in files]
    side = raw.where(F.col("reject_reason").isNotNull() | F.col("lines").isNotNull())
    with timings.phase("read and signals on Spark"):
        side_rows = side.select("file", "line", *_REJECT, *_SUMMARY).collect()
    rejected = [Reject(names[r["file"]], r["line"], r["reject_field"], r["reject_reason"], r["reject_raw"])
                for r in side_rows if r["reject_reason"] is not None]
    lines = sum(r["lines"] or 0 for r in side_rows)
    size = sum(r["bytes"] or 0 for r in side_rows)
    signal_columns = tuple(f.name for f in schema
                           if f.name not in {*_ORDER, "rid", *_KEPT_COLUMNS, *_TEXT_HASHES, *_REJECT, *_SUMMARY})
    compared = [f"_text_{c}" if c in TEXT_COLUMNS else c for c in _EXCHANGE_COLUMNS if keep_text or c not in TEXT_COLUMNS]
    exchanges = raw.where(F.col("rid").isNotNull())
    # only the rows of a repeated request_id go through the window: the others are shuffled by rid alone
    repeated = exchanges.groupBy("rid").count().where(F.col("count") > 1).select("rid")
    first = Window.partitionBy("rid").orderBy(*_ORDER)
    candidates = exchanges.join(repeated, "rid", "left_semi").withColumn("_n", F.row_number().over(first))
    candidates = candidates.withColumn("_content", F.xxhash64(*compared))
    candidates = candidates.withColumn("_same", F.col("_content") == F.first("_content").over(first))
    candidates = candidates.persist(StorageLevel.MEMORY_AND_DISK)
    repeats = candidates.where(F.col("_n") > 1)
    with timings.phase("repeated request ids"):
        duplicates = repeats.where(F.col("_same")).count()
        rejected += _conflicts(repeats.where(~F.col("_same")), candidates.where(F.col("_n") == 1), compared, names)
    order = {name: i for i, name in enumerate(names)}
    rejected.sort(key=lambda r: (order[r.file], r.line))
    columns = ("rid", *_KEPT_COLUMNS, *signal_columns)
    kept = exchanges.join(repeats.select(*_ORDER), list(_ORDER), "left_anti")
    rows = kept.select(*columns).persist(StorageLevel.MEMORY_AND_DISK)
    with timings.phase("kept rows cached"):
        extent = rows.agg(F.count("*").alias("n"), F.max("ts").alias("end")).toArrow().to_pylist()[0]
    raw.unpersist()
    candidates.unpersist()
    return SparkLogs(rows, rejected, lines, size, duplicates, signal_columns, int(extent["n"]), extent["end"], [rows])


def _differs(name: str) -> Column:
    return F.when(~F.col(f"r.{name}").eqNullSafe(F.col(f"k.{name}")), F.lit(_TEXT_HASHES.get(name, name)))


def _conflicts(repeats: DataFrame, kept: DataFrame, compared: list[str], names: list[str]) -> list[Reject]:
    """The rejects of the repeats whose content differs from the kept row's, naming the fields that differ."""
    pairs = repeats.alias("r").join(kept.alias("k"), "rid").select(
        F.col("r.file").alias("file"), F.col("r.line").alias("line"), F.col("r.request_id").alias("request_id"),
        F.filter(F.array(*(_differs(c) for c in compared)), lambda x: x.isNotNull()).alias("differ"),
    )
    return [Reject(names[r["file"]], r["line"], "request_id", f"{CONFLICT} (differs in {', '.join(r['differ'])})",
                   str(r["request_id"])[:RAW_CHARS]) for r in pairs.collect()]


def signal_view(rows: DataFrame, signal_columns: tuple[str, ...]) -> DataFrame:
    """The store's ``signals`` table over :attr:`SparkLogs.rows`: ``rid, account_id, ts`` and the signal columns."""
    return rows.select("rid", "account_id", "ts", *signal_columns)


def exchange_view(rows: DataFrame) -> DataFrame:
    """The store's ``exchanges`` table over :attr:`SparkLogs.rows` (without the texts, which no query reads)."""
    return rows.select("rid", *_KEPT_COLUMNS)

