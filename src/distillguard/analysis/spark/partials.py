"""Account statistics on Spark: :class:`AccountStats` partials per partition, merged per account in a reduce.

The exchanges are range-partitioned on ``(account_id, ts, rid)`` and sorted so within each partition: an account's
rows come in the order the embedded engine feeds them (``ts, rid``), most accounts fall in one partition, and an
account too busy for one (an enterprise batch job) spans consecutive ones, each holding a later stretch of its
time. Each partition's statistics travel as one blob per account (:meth:`AccountStats.to_table`); a reduce
keyed by account merges an account's blobs in partition order (:meth:`AccountStats.merge` bridges the
inter-arrival gap between stretches), which gives the statistics a single pass over all the rows gives. The
driver receives one blob per account.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import TaskContext
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema

from distillguard.accounts import STAT_INPUT_COLUMNS, SWEEP_COLUMN, AccountStats, IpIntel
from distillguard.accounts.sketch import SketchKey
from distillguard.analysis.timings import Timings
from distillguard.store.spark import UNSIGNED_64, from_spark_arrow

_FIRST = [pa.field("first_ts", pa.int64()), pa.field("first_rid", UNSIGNED_64)]
PARTIAL_SCHEMA = pa.schema([pa.field("part", pa.int32()), pa.field("account_id", pa.string()), *_FIRST,
                            pa.field("stats", pa.binary())])
"""A partition's statistics: per account, its first exchange there (``ts`` in µs, ``rid``) and its blob."""
MERGED_SCHEMA = pa.schema([f for f in PARTIAL_SCHEMA if f.name != "part"])
"""One account's statistics over every partition, with its first exchange."""

Task = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def partial_task(intel: IpIntel, key: SketchKey) -> Task:
    """The ``mapInArrow`` function updating one :class:`AccountStats` with its partition's rows, in order."""

    def partial(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        context = TaskContext.get()
        part = context.partitionId() if context is not None else 0
        stats = AccountStats(intel, key=key)
        first: dict[str, tuple[int, int]] = {}
        for batch in batches:
            table = from_spark_arrow(pa.Table.from_batches([batch]))
            stats.update(table)
            accounts = table.column("account_id").combine_chunks().dictionary_encode()
            _, at = np.unique(accounts.indices.to_numpy(), return_index=True)
            ts = pc.cast(table.column("ts"), pa.int64()).to_numpy()
            rid = table.column("rid").to_numpy()
            for account, i in zip(accounts.dictionary.to_pylist(), at):
                first.setdefault(account, (int(ts[i]), int(rid[i])))
        out = stats.to_table()
        if out.num_rows == 0:
            return
        ids = out.column("account_id").to_pylist()
        yield pa.RecordBatch.from_arrays([
            pa.array(np.full(len(ids), part, np.int32)), out.column("account_id").combine_chunks(),
            pa.array([first[a][0] for a in ids], pa.int64()),
            pa.array([first[a][1] for a in ids], pa.uint64()).cast(UNSIGNED_64),
            out.column("stats").combine_chunks(),
        ], schema=PARTIAL_SCHEMA)

    return partial


def merge_task(intel: IpIntel, key: SketchKey) -> Task:
    """The ``mapInArrow`` function merging, per account, the partials it is given in partition (time) order."""

    def merge(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = pa.Table.from_batches(list(batches), schema=PARTIAL_SCHEMA)
        if table.num_rows == 0:
            return
        frame = cast(pl.DataFrame, pl.from_arrow(table)).sort("part", "account_id")
        merged = AccountStats(intel, key=key)
        for part in frame.get_column("part").unique(maintain_order=True):
            merged.merge(AccountStats.from_table(frame.filter(pl.col("part") == part).select("account_id", "stats").to_arrow(),
                                                 intel, key))
        firsts = frame.group_by("account_id", maintain_order=True).agg(pl.col("first_ts").first(), pl.col("first_rid").first())
        out = cast(pl.DataFrame, pl.from_arrow(merged.to_table())).join(firsts, on="account_id", how="left")
        yield from out.select(*MERGED_SCHEMA.names).to_arrow().cast(MERGED_SCHEMA).to_batches()

    return merge


def account_stats(rows: DataFrame, intel: IpIntel, key: SketchKey, partitions: int,
                  timings: Timings | None = None) -> AccountStats:
    """:class:`AccountStats` over ``rows`` (the kept exchanges with their signals) under sketch ``key``, built on Spark.

    ``partitions`` ranges of accounts are updated in parallel and reduced per account over as many partitions;
    the driver gets the accounts in the order of their first exchange, as the embedded engine adds them.
    ``timings`` records ``partials and merge on Spark`` (the one action: the range partitioning's sample, the
    partials, the shuffle by account and the merge, collected to the driver) and ``merged statistics on the
    driver`` (the accounts ordered and their blobs loaded).
    """
    timings = timings or Timings()
    columns = [*STAT_INPUT_COLUMNS, *([SWEEP_COLUMN] if SWEEP_COLUMN in rows.columns else []), "rid"]
    order = ("account_id", "ts", "rid")
    partials = (rows.select(*columns).repartitionByRange(partitions, *order).sortWithinPartitions(*order)
                .mapInArrow(partial_task(intel, key), from_arrow_schema(PARTIAL_SCHEMA)))
    merged = partials.repartition(partitions, "account_id").mapInArrow(merge_task(intel, key), from_arrow_schema(MERGED_SCHEMA))
    with timings.phase("partials and merge on Spark"):
        table = from_spark_arrow(merged.toArrow())
    with timings.phase("merged statistics on the driver"):
        ordered = table.sort_by([("first_ts", "ascending"), ("first_rid", "ascending")])
        return AccountStats.from_table(ordered.select(["account_id", "stats"]), intel, key)
