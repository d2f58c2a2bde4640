"""The embedded store (DuckDB) behind a small API."""

from distillguard.store.duckdb_store import SCHEMA_VERSION, Store

__all__ = ["SCHEMA_VERSION", "Store"]
