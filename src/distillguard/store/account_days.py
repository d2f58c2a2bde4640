"""The account statistics kept between runs: one partial per account and UTC day, and each account's total.

Both hold :meth:`~distillguard.accounts.AccountStats.to_table` blobs. Exchanges are folded in by row
number: ``account_stats_state.exchanges`` says how many rows of ``exchanges`` (``rowid`` below it) the
statistics hold, so a run reads only the rows stored since (the table is append-only: the state is
dropped whenever fewer rows lie below the mark, or the statistics were made another way). Beside each
blob, the store keeps what the run needs to tell whether new exchanges extend it in time order: the
newest exchange it holds and, for totals, the key of its first exchange (``first_key``: the microsecond
time and request hash, so that accounts list in the order they appeared).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa

from distillguard.store.duckdb_store import Store
from distillguard.store.traffic import stat_input_batches

_NEW = """
CREATE OR REPLACE TEMP TABLE _dg_new_days AS
WITH n AS (
    SELECT CAST(ts AS DATE) AS day, account_id, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts,
           min(epoch_us(ts)::HUGEINT * 18446744073709551616 + rid) AS first_key
    FROM exchanges WHERE rowid >= $since AND rowid < $until GROUP BY ALL
)
SELECT n.*, coalesce(d.last_ts > n.first_ts, FALSE) AS late,
       coalesce(t.last_ts > min(n.first_ts) OVER (PARTITION BY n.account_id), FALSE) AS behind,
       d.last_ts IS NOT NULL AS day_held, t.last_ts IS NOT NULL AS total_held
FROM n LEFT JOIN account_days d USING (day, account_id) LEFT JOIN account_totals t USING (account_id)
"""
# Rows kept already are replaced (upserted); the others (every row of a first run) are plainly inserted, which
# costs DuckDB about a third of an upsert (large, a day of 75 K blobs: 0.26 vs 0.84 CPU s).
_KEEP_DAYS = """
INSERT INTO account_days
SELECT n.day, b.account_id, n.last_ts, b.stats FROM _dg_blobs b JOIN _dg_new_days n USING (account_id)
WHERE n.day = $day AND {held}
"""
_UPSERT_DAYS = """ ON CONFLICT (day, account_id) DO UPDATE SET last_ts = greatest(last_ts, excluded.last_ts),
    stats = excluded.stats"""
_KEEP_TOTALS = """
INSERT INTO account_totals
SELECT b.account_id, n.first_key, n.last_ts, b.stats
FROM _dg_blobs b JOIN (
    SELECT account_id, min(first_key) AS first_key, max(last_ts) AS last_ts, bool_or(total_held) AS held
    FROM _dg_new_days GROUP BY ALL
) n USING (account_id)
WHERE {held}
"""
_UPSERT_TOTALS = """ ON CONFLICT (account_id) DO UPDATE SET first_key = least(first_key, excluded.first_key),
    last_ts = greatest(last_ts, excluded.last_ts), stats = excluded.stats"""


@dataclass(frozen=True)
class Unfolded:
    """The exchange rows not yet in the kept statistics: ``rowid`` from ``since`` to ``until`` (excluded)."""

    since: int
    until: int

    @property
    def rows(self) -> int:
        """How many rows are new."""
        return self.until - self.since


def rows_after(store: Store, held: int) -> Unfolded:
    """The exchange rows that state kept over the rows below ``rowid`` ``held`` does not hold: those from ``held``
    on, or every row when rows below ``held`` were removed (the state must then be made again)."""
    until = int(store.query("SELECT coalesce(max(rowid) + 1, 0) AS n FROM exchanges").column("n")[0].as_py())
    if held and held != store.query("SELECT count(*) AS n FROM exchanges WHERE rowid < $since",
                                    {"since": held}).column("n")[0].as_py():
        held = 0
    return Unfolded(held, until)


def pending(store: Store, fingerprint: str) -> Unfolded:
    """The exchange rows the kept statistics do not hold: every row where they were made with another
    ``fingerprint`` (e.g. other IP intelligence) or rows they hold were removed."""
    state = store.query("SELECT exchanges, fingerprint FROM account_stats_state").to_pylist()
    return rows_after(store, int(state[0]["exchanges"]) if state and state[0]["fingerprint"] == fingerprint else 0)


def unfolded(store: Store, fingerprint: str) -> Unfolded:
    """The :func:`pending` rows, noted per account and day in a temporary table (:func:`new_account_days`);
    where every row is pending, the kept statistics and address origins are dropped first. The statistics
    are marked as holding nothing until :func:`mark_folded`.

    Run in the transaction that keeps the statistics (:func:`keep_day_stats`, :func:`keep_total_stats`).
    """
    new = pending(store, fingerprint)
    if not new.since:
        store.con.execute("DELETE FROM account_days; DELETE FROM account_totals; DELETE FROM ip_origins")
    store.con.execute("DELETE FROM account_stats_state")
    store.con.execute(_NEW, {"since": new.since, "until": new.until})
    return new


def mark_folded(store: Store, new: Unfolded, fingerprint: str) -> None:
    """Mark the kept statistics as holding every row below ``new.until``, made with ``fingerprint``."""
    store.con.execute("INSERT INTO account_stats_state VALUES ($until, $fingerprint, now())",
                      {"until": new.until, "fingerprint": fingerprint})


def new_account_days(store: Store) -> pa.Table:
    """``day, account_id, n, late, behind`` of the rows to fold in, by day and account.

    ``late``: the account's kept partial for the day holds a later exchange than the first new one, so
    the day is made again from its exchanges; ``behind``: its kept total does, so the total is merged
    again from its days.
    """
    return store.query("SELECT day, account_id, n, late, behind FROM _dg_new_days ORDER BY day, account_id")


def new_day_batches(store: Store, new: Unfolded, day: date, skip: Sequence[str], columns: Sequence[str],
                    from_signals: set[str], batch_size: int) -> Iterator[pa.Table]:
    """The new rows of ``day`` but those of the accounts in ``skip``, in time order, as statistics input."""
    return stat_input_batches(store, columns, from_signals, batch_size, where=(
        "e.rowid >= $since AND e.rowid < $until AND e.ts >= $day_lo AND e.ts < $day_hi "
        "AND e.account_id NOT IN (SELECT unnest($accounts::VARCHAR[]))"
    ), params={"since": new.since, "until": new.until, **_day_bounds(day), "accounts": list(skip)})


def day_batches(store: Store, new: Unfolded, day: date, accounts: Sequence[str], columns: Sequence[str],
                from_signals: set[str], batch_size: int) -> Iterator[pa.Table]:
    """Every row of ``day`` (old and new) of the accounts in ``accounts``, in time order, as statistics input."""
    return stat_input_batches(store, columns, from_signals, batch_size, where=(
        "e.rowid < $until AND e.ts >= $day_lo AND e.ts < $day_hi "
        "AND e.account_id IN (SELECT unnest($accounts::VARCHAR[]))"
    ), params={"until": new.until, **_day_bounds(day), "accounts": list(accounts)})


def _day_bounds(day: date) -> dict[str, datetime]:
    start = datetime.combine(day, time(), UTC)
    return {"day_lo": start, "day_hi": start + timedelta(days=1)}


def day_stats(store: Store, day: date, accounts: Sequence[str]) -> pa.Table:
    """``account_id, stats``: the kept partials of ``day`` of those of ``accounts`` that have one."""
    return store.query(
        "SELECT account_id, stats FROM account_days WHERE day = $day AND account_id IN (SELECT unnest($accounts::VARCHAR[]))",
        {"day": day, "accounts": list(accounts)},
    )


def account_day_stats(store: Store, accounts: Sequence[str]) -> Iterator[pa.Table]:
    """``account_id, stats``: the kept partials of ``accounts``, one table per day in day order."""
    days = store.query(
        "SELECT DISTINCT day FROM account_days WHERE account_id IN (SELECT unnest($accounts::VARCHAR[])) ORDER BY day",
        {"accounts": list(accounts)},
    ).column("day").to_pylist()
    for day in days:
        yield day_stats(store, day, accounts)


def total_stats(store: Store, accounts: Sequence[str] | None = None) -> pa.Table:
    """``account_id, stats``: the kept totals (of ``accounts`` only, unless None) in the order accounts appeared."""
    if accounts is None:
        return store.query("SELECT account_id, stats FROM account_totals ORDER BY first_key")
    return store.query(
        "SELECT account_id, stats FROM account_totals WHERE account_id IN (SELECT unnest($accounts::VARCHAR[])) "
        "ORDER BY first_key", {"accounts": list(accounts)},
    )


def keep_day_stats(store: Store, day: date, blobs: pa.Table) -> None:
    """Keep ``blobs`` (``account_id, stats``) as the partials of ``day`` of accounts with new rows that day."""
    with store.registered(_dg_blobs=blobs):
        store.con.execute(_KEEP_DAYS.format(held="NOT n.day_held"), {"day": day})
        store.con.execute(_KEEP_DAYS.format(held="n.day_held") + _UPSERT_DAYS, {"day": day})


def keep_total_stats(store: Store, blobs: pa.Table) -> None:
    """Keep ``blobs`` (``account_id, stats``) as the totals of accounts with new rows."""
    with store.registered(_dg_blobs=blobs):
        store.con.execute(_KEEP_TOTALS.format(held="NOT n.held"))
        store.con.execute(_KEEP_TOTALS.format(held="n.held") + _UPSERT_TOTALS)


def new_addresses(store: Store, new: Unfolded) -> list[str]:
    """Addresses of the new rows whose origin is not kept yet."""
    return [str(ip) for ip in store.query(
        "SELECT DISTINCT ip FROM exchanges WHERE rowid >= $since AND rowid < $until "
        "AND ip NOT IN (SELECT ip FROM ip_origins)", {"since": new.since, "until": new.until},
    ).column("ip").to_pylist()]


def keep_origins(store: Store, origins: pa.Table) -> None:
    """Keep ``origins`` (``ip, origin``: the origin's code)."""
    with store.registered(_dg_origins=origins):
        store.con.execute("INSERT OR IGNORE INTO ip_origins SELECT ip, origin FROM _dg_origins")


def kept_origins(store: Store) -> pa.Table:
    """``ip, origin``: the kept origin of every stored exchange's address."""
    return store.query("SELECT ip, origin FROM ip_origins")
