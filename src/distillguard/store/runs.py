"""The ``runs`` table: one row per analysis, and the one definition of "the latest run".

A run is newer when it finished later; runs that never finished come after
every finished run, newest started first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import orjson

from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store

_NEWEST_FIRST = "ORDER BY finished_at DESC NULLS LAST, started_at DESC"
_RUN_IDS = f"SELECT run_id FROM runs {_NEWEST_FIRST}"
_LATEST_RUN_ID = f"SELECT run_id FROM runs {_NEWEST_FIRST} LIMIT 1"
_RECORD_RUN = "INSERT INTO runs VALUES (?, ?, ?, now(), ?, ?)"


def latest_run_id(store: Store) -> str | None:
    """The id of the newest run (see the module doc for the order), or None if the store holds no run."""
    rows = _fetch(store, _LATEST_RUN_ID)
    return str(rows[0][0]) if rows else None


def run_ids(store: Store) -> list[str]:
    """Every run id, newest first (the order of :func:`latest_run_id`)."""
    return [str(row[0]) for row in _fetch(store, _RUN_IDS)]


def record_run(store: Store, run_id: str, kind: str, started_at: datetime, inputs: list[str],
               counts: dict[str, Any]) -> None:
    """Record a run that finishes now: its kind (``analyze``, ``replay``), start, inputs and ingest counts.

    Part of the caller's transaction, if one is open: a failure raises the database's error, for it to roll back.
    """
    store.con.execute(_RECORD_RUN, [run_id, kind, started_at, inputs, orjson.dumps(counts).decode()])


def _fetch(store: Store, sql: str) -> list[tuple[Any, ...]]:
    try:
        return store.con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read the runs: {exc}") from exc
