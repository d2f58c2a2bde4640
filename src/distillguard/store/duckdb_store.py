"""The embedded DuckDB store: versioned schema, transactional per-batch ingest.

Each ingested batch (exchanges with their signals) is one transaction keyed by
a 64-bit hash of ``request_id``: a crash leaves whole batches only, and
re-ingesting the same records is a no-op. A record whose ``request_id`` is
stored already (or came earlier in its batch) with other content is a conflict:
the first one is kept and the conflict reported with the fields that differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from distillguard.core.errors import StoreError
from distillguard.core.ids import text_hash64
from distillguard.core.schema import ACCOUNT_SCHEMA, EXCHANGE_SCHEMA, TEXT_COLUMNS
from distillguard.store.migrations import MIGRATIONS
from distillguard.store.rids import RidSet

SCHEMA_VERSION = len(MIGRATIONS)
_RID_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS exchanges_rid ON exchanges (rid)"
#: Keys a bulk load holds in memory at most (8 bytes each): past them the index is built and kept row by row again.
BULK_KEYS = 50_000_000
_EXCHANGE_COLUMNS = ", ".join(f'"{f.name}"' for f in EXCHANGE_SCHEMA)
_ACCOUNT_COLUMNS = ", ".join(f'"{f.name}"' for f in ACCOUNT_SCHEMA)
# A stored row kept no text (``keep_text=False`` then): its texts are not compared with a duplicate's.
_NO_TEXT = " AND ".join(f'e."{c}" IS NULL' for c in TEXT_COLUMNS)
_DIFFERS = ", ".join(
    f"""CASE WHEN {f'NOT $texts OR ({_NO_TEXT}) THEN NULL WHEN ' if f.name in TEXT_COLUMNS else ''}"""
    f"""e."{f.name}" IS DISTINCT FROM d."{f.name}" THEN '{f.name}' END"""
    for f in EXCHANGE_SCHEMA
)
_CONFLICTS = f"""
SELECT d.i, [{_DIFFERS}] AS differ
FROM _dg_dup d JOIN exchanges e USING (rid) ORDER BY d.i
"""


@dataclass(frozen=True, slots=True)
class IngestedBatch:
    """What :meth:`Store.ingest_batch` did with a batch.

    ``new`` rows were stored; ``duplicates`` repeated a stored (or earlier) row exactly; ``conflicts`` holds,
    for each row whose ``request_id`` is stored with other content, its index in the batch and the fields
    that differ (the stored row is kept).
    """

    new: int
    duplicates: int
    conflicts: list[tuple[int, list[str]]] = field(default_factory=list)


def request_rids(exchanges: pa.Table) -> npt.NDArray[np.uint64]:
    """The store's key of each exchange: the 64-bit hash of its ``request_id``."""
    ids = exchanges.column("request_id").to_pylist()
    return np.fromiter((text_hash64(r) for r in ids), np.uint64, len(ids))


KEY64_MACRO = "CREATE OR REPLACE TEMP MACRO key64(s) AS ('0x' || md5(s)[1:16])::UBIGINT"
"""``key64(s)``: a string's 64-bit key, the first 16 hex digits of its MD5. Unlike DuckDB's ``hash()`` it is
defined outside DuckDB, so another engine (the Spark transpiler) and another DuckDB release give the same keys,
and orders and tie-breaks that follow them (the indicators linking keeps per account) do not change with either."""


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if there still is one: a commit that failed (a full disk) has ended it, and
    the error that ended it, not the rollback's, is the one to report. What the store committed before stays."""
    try:
        con.rollback()
    except duckdb.Error:
        pass


class Store:
    """A DuckDB database file holding exchanges, signals, accounts and results."""

    def __init__(self, path: Path, *, memory_limit: str = "1GB", threads: int | None = None,
                 read_only: bool = False) -> None:
        self.path = path
        self.memory_limit = memory_limit
        self.threads = threads
        self.read_only = read_only
        self._con: duckdb.DuckDBPyConnection | None = None
        self._bulk: RidSet | None = None  # the keys stored by the bulk load under way (the index down meanwhile)

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own to the store (for another thread, or a scan held open while querying), with
        the store's time zone and :data:`KEY64_MACRO`: a cursor shares the database, not its connection's settings."""
        cursor = self.con.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        cursor.execute(KEY64_MACRO)
        return cursor

    def twin(self) -> Store:
        """Another store object on this open database, with a connection (and transactions) of its own: for work
        on another thread beside this one's (DuckDB runs the two at once; each commits its own tables)."""
        twin = Store(self.path, memory_limit=self.memory_limit, threads=self.threads, read_only=self.read_only)
        twin._con = self.cursor()
        return twin

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection (raises if :meth:`open` was not called)."""
        if self._con is None:
            raise StoreError(f"{self.path}: store is not open")
        return self._con

    def open(self) -> Store:
        """Connect and bring the schema to :data:`SCHEMA_VERSION`.

        Read-only: the file must exist and be at :data:`SCHEMA_VERSION` already; nothing is migrated or locked for writing.
        """
        if self._con is not None:
            return self
        if self.read_only and not self.path.exists():
            raise StoreError(f"{self.path}: store not found")
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path), read_only=self.read_only)
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open store{' read-only' if self.read_only else ''}: {exc}") from exc
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(f"SET memory_limit = '{self.memory_limit}'")
        self._con.execute(KEY64_MACRO)
        if self.threads:
            self._con.execute(f"SET threads = {int(self.threads)}")
        if self.read_only:
            self._check_version()
        else:
            self._migrate()
            self._con.execute(_RID_INDEX)  # a bulk load cut short (a killed process) left the rows without it
        return self

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def schema_version(self) -> int:
        """The version the database file is at."""
        return int(self.con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0])

    def _check_version(self) -> None:
        try:
            current = self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
        except duckdb.Error as exc:
            self.close()
            raise StoreError(f"{self.path}: not a distillguard store (no schema version): {exc}") from exc
        if current != SCHEMA_VERSION:
            self.close()
            raise StoreError(f"{self.path}: schema version {current}; this distillguard reads version {SCHEMA_VERSION} only")

    def _migrate(self) -> None:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this distillguard ({SCHEMA_VERSION})"
            )
        for version in range(current, SCHEMA_VERSION):
            con.begin()
            try:
                con.execute(MIGRATIONS[version])
                con.execute("INSERT INTO schema_version VALUES (?, now())", [version + 1])
                con.commit()
            except duckdb.Error as exc:
                rollback(con)
                raise StoreError(f"{self.path}: migration to version {version + 1} failed: {exc}") from exc

    def ingest_batch(self, exchanges: pa.Table, signals: pa.Table, *, keep_text: bool = True,
                     rids: npt.NDArray[np.uint64] | None = None) -> IngestedBatch:
        """Store a batch of exchanges and their signals in one transaction; say what was new, repeated, conflicting.

        ``signals`` holds ``request_id`` and the signal columns, row-aligned with ``exchanges``. Of rows
        sharing a ``request_id`` the stored one, else the first in the batch, is kept; the others are
        compared with it, field by field (texts only where both sides keep them). ``rids`` are the rows'
        :func:`request_rids` when the caller has them already (computed elsewhere, e.g. in a worker).
        """
        if exchanges.num_rows != signals.num_rows:
            raise StoreError("exchanges and signals batches differ in length")
        n = exchanges.num_rows
        if n == 0:
            return IngestedBatch(0, 0)
        if rids is None:
            rids = request_rids(exchanges)
        elif len(rids) != n:
            raise StoreError("exchanges and their rids differ in length")
        rid = pa.array(rids, pa.uint64())
        if not keep_text:
            for name in TEXT_COLUMNS:
                i = exchanges.schema.get_field_index(name)
                exchanges = exchanges.set_column(i, name, pa.nulls(n, pa.string()))
        index = pa.array(np.arange(n, dtype=np.int64))
        ex = exchanges.add_column(0, "rid", rid).add_column(0, "i", index)
        bulk = self._bulk  # during a bulk load the index is down: the keys stored before are found in memory
        unstored, insert = (ex, "INSERT OR IGNORE") if bulk is None else (ex.filter(pa.array(~bulk.contains(rids))), "INSERT")
        sig = signals.drop_columns(["request_id"]).add_column(0, "rid", rid).add_column(0, "i", index)
        sig = sig.add_column(2, "account_id", exchanges.column("account_id")).add_column(3, "ts", exchanges.column("ts"))
        sig_columns = ", ".join(f'"{c}"' for c in sig.column_names if c != "i")
        # Rows sharing a rid keep the first; a batch with none (the usual case) needs no window over it.
        repeats = len(np.unique(rids)) < n
        first = " QUALIFY row_number() OVER (PARTITION BY rid ORDER BY i) = 1" if repeats else ""
        compared: list[tuple[int, list[str | None]]] = []
        with self.transaction("batch not stored", _dg_unstored=unstored, _dg_sig=sig) as con:
            inserted = con.execute(
                f"{insert} INTO exchanges (rid, {_EXCHANGE_COLUMNS}) "
                f"SELECT rid, {_EXCHANGE_COLUMNS} FROM _dg_unstored{first} RETURNING rid"
            ).fetchnumpy()["rid"]
            if len(inserted) == n:  # all new, none repeated: every signal row goes in
                con.execute(f"INSERT INTO signals ({sig_columns}) SELECT {sig_columns} FROM _dg_sig")
            else:
                compared = self._repeats(con, ex, sig, sig_columns, rids, inserted, first, keep_text)
        if bulk is not None:
            bulk.add(inserted)
            if len(bulk) > BULK_KEYS:
                self._end_bulk()
        conflicts = [(int(i), names) for i, differ in compared if (names := [c for c in differ if c is not None])]
        return IngestedBatch(len(inserted), len(compared) - len(conflicts), conflicts)

    def _repeats(self, con: duckdb.DuckDBPyConnection, ex: pa.Table, sig: pa.Table, sig_columns: str,
                 rids: npt.NDArray[np.uint64], inserted: npt.NDArray[np.uint64], first: str, keep_text: bool
                 ) -> list[tuple[int, list[str | None]]]:
        """For a batch of which some rows were not inserted: the signals of those that were, and each other row
        compared with the stored one of its key (its index in the batch, and per field its name where they differ)."""
        new = pa.table({"rid": pa.array(inserted, pa.uint64())})
        with self.registered(_dg_new=new):  # signals only of the exchanges this batch added, of their first rows
            con.execute(
                f"INSERT INTO signals ({sig_columns}) SELECT {sig_columns} FROM _dg_sig "
                f"SEMI JOIN _dg_new USING (rid){first}"
            )
        _, first_at = np.unique(rids, return_index=True)
        kept = np.zeros(len(rids), dtype=bool)
        kept[first_at[np.isin(rids[first_at], inserted)]] = True
        with self.registered(_dg_dup=ex.filter(pa.array(~kept))):
            compared: list[tuple[int, list[str | None]]] = con.execute(_CONFLICTS, {"texts": keep_text}).fetchall()
        return compared

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """For the block, :meth:`ingest_batch` stores into an empty ``exchanges`` table without its key index, finding
        repeated keys in memory (:class:`~distillguard.store.rids.RidSet`), and the index is built once at the end,
        however the block ends (a killed process leaves it to the next :meth:`open`), or once the load holds
        :data:`BULK_KEYS` keys. On a table holding rows already the block changes nothing.

        The index kept row by row cost the store's writes into a 16 M-row store 12.6-14.8 s per million rows against
        3.6 s without it (6-9 CPU s more, one DuckDB thread); built at once it costs ~4 s for 17 M rows.
        """
        if self._bulk is not None or self.query("SELECT count(*) AS n FROM exchanges").column("n")[0].as_py():
            yield
            return
        self.con.execute("DROP INDEX exchanges_rid")
        self._bulk = RidSet()
        try:
            yield
        finally:
            self._end_bulk()

    def _end_bulk(self) -> None:
        """End a bulk load: its keys forgotten, the index built."""
        self._bulk = None
        self.con.execute(_RID_INDEX)

    def upsert_accounts(self, accounts: pa.Table) -> int:
        """Insert or replace account records (last record per account wins); return the row count."""
        if accounts.num_rows == 0:
            return 0
        with self.transaction("accounts not stored", _dg_acc=accounts) as con:
            con.execute(
                f"INSERT OR REPLACE INTO accounts ({_ACCOUNT_COLUMNS}) "
                f"SELECT {_ACCOUNT_COLUMNS} FROM _dg_acc QUALIFY row_number() OVER (PARTITION BY account_id) = 1"
            )
        return int(accounts.num_rows)

    @contextmanager
    def transaction(self, failure: str, **tables: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction with ``tables`` registered as views; rolled back whole on any error."""
        with self.registered(**tables) as con:
            con.begin()
            try:
                yield con
                con.commit()
            except duckdb.Error as exc:
                rollback(con)
                raise StoreError(f"{self.path}: {failure}: {exc}") from exc
            except BaseException:  # any other error (or an interrupt) too: the connection stays usable
                rollback(con)
                raise

    def commit_so_far(self) -> None:
        """Commit the open :meth:`transaction`'s work and go on in a new one (for work whose committed part
        alone leaves the store consistent)."""
        self.con.commit()
        self.con.begin()

    @contextmanager
    def threads_for(self, n: int) -> Iterator[None]:
        """The database's threads (every connection's) set to ``n`` for the block, then back to what they were."""
        before = int(self.query("SELECT current_setting('threads') AS n").column("n")[0].as_py())
        self.con.execute(f"SET threads = {int(n)}")
        try:
            yield
        finally:
            self.con.execute(f"SET threads = {before}")

    @contextmanager
    def registered(self, **tables: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, with ``tables`` visible to its queries as views of those names for the block."""
        con = self.con
        for view, table in tables.items():
            con.register(view, table)
        try:
            yield con
        finally:
            for view in tables:
                con.unregister(view)

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a read query and return an Arrow table."""
        return self.con.sql(sql, params=params).to_arrow_table()

    def scan(self, sql: str, params: list[Any] | dict[str, Any] | None = None, batch_size: int = 100_000) -> Iterator[pa.Table]:
        """Stream a query's result as Arrow tables of at most ``batch_size`` rows."""
        cursor = self.cursor()  # the caller may query while the scan is open
        try:
            for batch in cursor.sql(sql, params=params).to_arrow_reader(batch_size):
                yield pa.Table.from_batches([batch])
        finally:
            cursor.close()
