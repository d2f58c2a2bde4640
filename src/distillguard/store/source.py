"""What the traffic reads need of a store: the seam between the DuckDB store and the Spark engine.

The queries of :mod:`~distillguard.store.traffic` and :mod:`~distillguard.store.linking` are written once in
DuckDB's dialect. :class:`~distillguard.store.duckdb_store.Store` runs them on its file;
:class:`~distillguard.store.spark.SparkSql` transpiles them and runs them on Spark tables of the same names.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import pyarrow as pa


class SqlStatements(Protocol):
    """Runs a statement that returns nothing the caller reads (a temporary table's creation)."""

    def execute(self, query: str, parameters: Any = ..., /) -> object:
        """Run ``query`` with its named ``parameters``."""
        ...


class SqlSource(Protocol):
    """A place where the stored traffic (``exchanges``, ``signals``, ``accounts``, ``partner_indicators``) is queried."""

    @property
    def con(self) -> SqlStatements:
        """The connection statements run on."""
        ...

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a read query (DuckDB dialect) and return an Arrow table."""
        ...

    def registered(self, **tables: pa.Table) -> AbstractContextManager[object]:
        """``tables`` visible to queries under those names for the block."""
        ...
