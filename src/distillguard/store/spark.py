"""The store's traffic queries on Spark: DuckDB-dialect SQL transpiled with SQLGlot, run on Spark tables.

:class:`SparkSql` satisfies :class:`~distillguard.store.source.SqlSource`, so the reads of
:mod:`~distillguard.store.traffic` and :mod:`~distillguard.store.linking` run unchanged over Spark tables named
``exchanges``, ``signals``, ``accounts`` and ``partner_indicators``. Where the dialects differ in meaning rather
than spelling, :func:`spark_statement` rewrites the tree:

- DuckDB's unsigned 64-bit integers (``rid``, ``template_fp``, ``key64()``) are ``DECIMAL(20,0)`` in Spark, which
  keeps their order and their text; Arrow tables cross as ``uint64`` both ways.
- ``key64(s)`` (the store's macro, :data:`~distillguard.store.duckdb_store.KEY64_MACRO`) is the same first 64 bits
  of the MD5 in both engines, so indicator keys and what is ordered by them agree.
- ``epoch(ts)::BIGINT`` rounds half to even as DuckDB's cast does; ``epoch_ms(ts)`` is ``unix_millis``;
  ``time_bucket`` floors on the epoch and prints as DuckDB prints a UTC ``TIMESTAMPTZ``.
- ``'infinity'`` timestamps are the last second of year 9999; ``duckdb_tables()`` lists this source's temporary tables.
- ``CREATE TEMP TABLE ... AS`` materialises the query and names it (a checkpointed temporary view).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, ClassVar

import pyarrow as pa
import sqlglot
from pyspark.sql import DataFrame, SparkSession
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.generators.spark import SparkGenerator

from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store

UNSIGNED_64 = pa.decimal128(20, 0)
"""How an unsigned 64-bit integer column is held in Spark."""

TRAFFIC_TABLES = ("exchanges", "signals", "accounts", "partner_indicators")
"""The tables the traffic queries read."""

STORE_TABLES = ("accounts", "partner_indicators")
"""The tables the Spark engine takes from the DuckDB store (account records and partner reports are small)."""

_TEMP_TABLES = "_dg_temp_tables"
_END_OF_TIME = "9999-12-31 23:59:59"


class _NestedSpark(Spark):
    """Spark 3+, which takes a WITH inside a subquery (SQLGlot hoists them for Hive, clashing on reused names)."""

    class Generator(SparkGenerator):
        EXPRESSIONS_WITHOUT_NESTED_CTES: ClassVar[set[type[exp.Expr]]] = set()


def _spark(node: exp.Expr) -> str:
    return node.sql(dialect=_NestedSpark)


def _expr(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read="spark")


def _is_timestamp(node: exp.Expr) -> bool:
    return isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ)


def _seconds(interval: exp.Expr) -> int:
    if not isinstance(interval, exp.Interval):
        raise StoreError(f"time_bucket needs an interval literal, got {interval.sql()}")
    amount, unit = interval.this.name.split() if interval.args.get("unit") is None else (
        interval.this.name, interval.args["unit"].name)
    scale = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
    key = unit.upper().rstrip("S")
    if key not in scale:
        raise StoreError(f"time_bucket by {unit} is not transpiled for Spark")
    return int(amount) * scale[key]


def _bucket(node: exp.DateBin) -> str:
    step = _seconds(node.this)
    return f"TIMESTAMP_SECONDS(FLOOR(UNIX_SECONDS({_spark(_convert(node.expression))}) / {step}) * {step})"


def _rule(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Cast):
        inner = node.this
        if isinstance(inner, exp.Literal) and inner.is_string and inner.name == "infinity" and _is_timestamp(node.to):
            return _expr(f"CAST('{_END_OF_TIME}' AS TIMESTAMP)")
        if isinstance(inner, exp.TimeToUnix) and node.to.this == exp.DataType.Type.BIGINT:
            return _expr(f"CAST(BROUND(UNIX_MICROS({_spark(_convert(inner.this))}) / 1000000.0) AS BIGINT)")
        if isinstance(inner, exp.DateBin) and node.to.is_type(exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR):
            return _expr(f"CONCAT(DATE_FORMAT({_bucket(inner)}, 'yyyy-MM-dd HH:mm:ss'), '+00')")
    if isinstance(node, exp.DateBin):
        return _expr(_bucket(node))
    if isinstance(node, exp.UnixToTime) and isinstance(node.this, exp.Column):
        return _expr(f"UNIX_MILLIS({_spark(node.this)})")  # DuckDB's epoch_ms of a timestamp
    if isinstance(node, exp.Anonymous) and node.name.lower() == "key64":
        args = " || ".join(_spark(_convert(a)) for a in node.expressions)
        return _expr(f"CAST(CONV(SUBSTRING(MD5({args}), 1, 16), 16, 10) AS DECIMAL(20, 0))")
    if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.UINT, exp.DataType.Type.USMALLINT,
                                                          exp.DataType.Type.UTINYINT):
        return exp.DataType.build("BIGINT")
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.UBIGINT:
        return exp.DataType.build("DECIMAL(20, 0)")
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous) and node.this.name == "duckdb_tables":
        return exp.to_table(_TEMP_TABLES)
    return node


def _convert(node: exp.Expr) -> exp.Expr:
    return node.transform(_rule)


@lru_cache(maxsize=512)
def spark_statement(sql: str) -> tuple[str | None, str]:
    """``(temporary table, query)``: the Spark SQL of a DuckDB statement, and the temporary table it creates (or None).

    Parameters (``$name``) stay named markers (``:name``) for :meth:`SparkSession.sql`'s ``args``.
    """
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise StoreError(f"cannot transpile for Spark: {exc}") from exc
    if isinstance(tree, exp.Create):
        if str(tree.args.get("kind", "")).upper() != "TABLE" or not isinstance(tree.expression, exp.Query):
            raise StoreError(f"only CREATE TABLE ... AS SELECT is transpiled for Spark: {sql.strip()[:80]}")
        return tree.this.name, _spark(_convert(tree.expression))
    return None, _spark(_convert(tree))


def to_spark_arrow(table: pa.Table) -> pa.Table:
    """``table`` with its unsigned integers as Spark holds them (64-bit as :data:`UNSIGNED_64`, smaller as int64)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_uint64(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(UNSIGNED_64))
        elif pa.types.is_unsigned_integer(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    return table


def from_spark_arrow(table: pa.Table) -> pa.Table:
    """A Spark result as DuckDB would give it: :data:`UNSIGNED_64` columns as uint64."""
    for i, field in enumerate(table.schema):
        if field.type == UNSIGNED_64:
            table = table.set_column(i, field.name, table.column(i).cast(pa.uint64()))
    return table


def _args(params: list[Any] | dict[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise StoreError("Spark queries take named parameters only")
    return dict(params)


class SparkSql:
    """Spark tables queried with the store's DuckDB-dialect SQL (see the module's notes on what is rewritten)."""

    def __init__(self, session: SparkSession) -> None:
        self.session = session
        self._temp: dict[str, DataFrame] = {}
        self._put_temp_list()

    @property
    def con(self) -> SparkSql:
        """Statements run on the session itself."""
        return self

    def execute(self, query: str, parameters: Any = None, /) -> None:
        """Run a statement; ``CREATE [TEMP] TABLE name AS SELECT`` materialises the query as ``name``."""
        table, sql = spark_statement(query)
        frame = self.session.sql(sql, args=_args(parameters))
        if table is None:
            frame.collect()
            return
        old = self._temp.get(table)
        self._temp[table] = frame.localCheckpoint(eager=True)
        self._temp[table].createOrReplaceTempView(table)
        if old is not None:
            old.unpersist()
        self._put_temp_list()

    def _put_temp_list(self) -> None:
        rows = pa.table({"table_name": pa.array(sorted(self._temp), pa.string()),
                         "temporary": pa.array([True] * len(self._temp), pa.bool_())})
        self.session.createDataFrame(rows).createOrReplaceTempView(_TEMP_TABLES)

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a read query (DuckDB dialect) on Spark and return an Arrow table, unsigned columns as uint64."""
        return from_spark_arrow(self.frame(sql, params).toArrow())

    def frame(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> DataFrame:
        """A read query (DuckDB dialect) as a Spark DataFrame, left to Spark to run or write where it wants."""
        table, spark = spark_statement(sql)
        if table is not None:
            raise StoreError("a query that creates a table is run with execute")
        return self.session.sql(spark, args=_args(params))

    def put(self, name: str, frame: DataFrame) -> None:
        """Name ``frame`` for the queries (e.g. ``exchanges``)."""
        frame.createOrReplaceTempView(name)

    def put_arrow(self, name: str, table: pa.Table) -> None:
        """Name an Arrow table for the queries, unsigned integers converted (:func:`to_spark_arrow`)."""
        self.session.createDataFrame(to_spark_arrow(table)).createOrReplaceTempView(name)

    @contextmanager
    def registered(self, **tables: pa.Table) -> Iterator[SparkSql]:
        """``tables`` visible to queries under those names for the block."""
        for name, table in tables.items():
            self.put_arrow(name, table)
        try:
            yield self
        finally:
            for name in tables:
                self.session.catalog.dropTempView(name)


def copy_store_tables(store: Store, sql: SparkSql) -> None:
    """Give Spark the DuckDB store's :data:`STORE_TABLES` under the same names."""
    for name in STORE_TABLES:
        sql.put_arrow(name, store.query(f"SELECT * FROM {name}"))
