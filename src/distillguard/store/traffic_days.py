"""The traffic aggregates kept between runs: per account and UTC day, what linking and the population signals count.

Five tables hold, per day and account, the exchanges per address (with the first one's time), per client
claim and TLS stack, per request shape (model, API format, endpoint, thinking budget, reasoning effort), per
template (fingerprint and key) and per activity slot (``epoch // slot_s``). Every figure the readers need is
a sum of counts, a minimum or a distinct set over them, so new exchanges are folded in by adding their
counts to those of their days, whatever their order in time: the days the new rows touch are aggregated
again from their kept rows and the new ones (a late day as well as today). ``traffic_days_state`` says how
many rows of ``exchanges`` (``rowid`` below it) the tables hold and the activity slot they were made with;
they are made again from every exchange when rows below that mark were removed or the slot changed.
Readers use them only when they hold every stored exchange (:func:`kept_slot`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa

from distillguard.store.account_days import Unfolded, rows_after
from distillguard.store.duckdb_store import Store
from distillguard.store.source import SqlSource
from distillguard.store.traffic import REQUEST_PARAMETERS_OF

_ROWS = """
CREATE OR REPLACE TEMP TABLE _dg_day_rows AS
SELECT CAST(e.ts AS DATE) AS day, e.account_id, e.ts, e.ip, e.user_agent, e.tls_ja4, e.model, e.api_format, e.endpoint,
       e.thinking_budget, e.reasoning_effort, s.template_fp, s.template_key, epoch(s.ts)::BIGINT // $slot AS slot
FROM exchanges e JOIN signals s USING (rid)
WHERE e.rowid >= $since AND e.rowid < $until AND e.ts >= $day_lo AND e.ts < $day_hi
  AND s.ts >= $day_lo AND s.ts < $day_hi
"""

_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "day_addresses": ("ip", ("n", "first_ts")),
    "day_clients": ("user_agent, tls_ja4", ("n",)),
    "day_requests": ("model, api_format, endpoint, thinking_budget, reasoning_effort", ("n",)),
    "day_templates": ("template_fp, template_key", ("n",)),
    "day_slots": ("slot", ("n",)),
}
"""Each kept table: its key columns after ``day, account_id``, and its values."""

_VALUES = {"n": ("count(*)", "sum(n)"), "first_ts": ("min(ts)", "min(first_ts)")}
"""Each value: made from the new rows, and merged from partials."""

_EXCHANGES = "(SELECT *, CAST(ts AS DATE) AS day FROM exchanges)"
_SIGNALS = "(SELECT *, CAST(ts AS DATE) AS day, epoch(ts)::BIGINT // $slot AS slot FROM signals)"
_REBUILT_FROM = {"day_addresses": _EXCHANGES, "day_clients": _EXCHANGES, "day_requests": _EXCHANGES,
                 "day_templates": _SIGNALS, "day_slots": _SIGNALS}
"""Where a rebuild aggregates each table from: every exchange, or every signal row (one per exchange)."""


def _rows(store: Store) -> tuple[int, int]:
    """``max(rowid) + 1`` and the row count of ``exchanges`` (equal while no row was removed)."""
    row = store.query("SELECT coalesce(max(rowid) + 1, 0) AS until, count(*) AS n FROM exchanges").to_pylist()[0]
    return int(row["until"]), int(row["n"])


def pending(store: Store, slot_s: int) -> Unfolded:
    """The rows to fold in: every row when the aggregates were made with another ``slot_s`` or rows they hold
    were removed."""
    state = store.query("SELECT exchanges, slot_s FROM traffic_days_state").to_pylist()
    return rows_after(store, int(state[0]["exchanges"]) if state and state[0]["slot_s"] == slot_s else 0)


def fold(store: Store, slot_s: int) -> Unfolded:
    """Bring the kept aggregates up to every stored exchange, with activity slots of ``slot_s`` seconds.

    One transaction; a rebuild (every row pending) aggregates each table from all the stored traffic at once,
    commits table by table and marks the rows held at the end.
    """
    with store.transaction("traffic aggregates not kept"):
        new = pending(store, slot_s)
        store.con.execute("DELETE FROM traffic_days_state")
        if not new.since:
            _rebuild(store, slot_s)
        else:
            _fold_days(store, new, slot_s)
        store.con.execute("INSERT INTO traffic_days_state VALUES ($until, $slot)", {"until": new.until, "slot": slot_s})
    return new


def _rebuild(store: Store, slot_s: int) -> None:
    """Make every kept table again from all the stored exchanges and signals."""
    for table, (keys, values) in _TABLES.items():
        columns = f"day, account_id, {keys}, {', '.join(values)}"
        made = ", ".join(f"{_VALUES[v][0]} AS {v}" for v in values)
        source = _REBUILT_FROM[table]
        store.con.execute(f"DELETE FROM {table}")
        store.con.execute(f"INSERT INTO {table} ({columns}) SELECT day, account_id, {keys}, {made} FROM {source} GROUP BY ALL",
                          {"slot": slot_s} if source == _SIGNALS else None)
        store.commit_so_far()


def _fold_days(store: Store, new: Unfolded, slot_s: int) -> None:
    """Add the rows ``new`` to the kept partials of the days they fall in."""
    days = store.query(
        "SELECT DISTINCT CAST(ts AS DATE) AS day FROM exchanges WHERE rowid >= $since AND rowid < $until ORDER BY day",
        {"since": new.since, "until": new.until},
    ).column("day").to_pylist()
    for day in days:
        _fold_day(store, new, day, slot_s)


def _fold_day(store: Store, new: Unfolded, day: date, slot_s: int) -> None:
    """Add the new rows of ``day`` to its kept partials: the day's rows of each table aggregated again."""
    start = datetime.combine(day, time(), UTC)
    store.con.execute(_ROWS, {"since": new.since, "until": new.until, "day_lo": start,
                              "day_hi": start + timedelta(days=1), "slot": slot_s})
    for table, (keys, values) in _TABLES.items():
        columns = f"day, account_id, {keys}, {', '.join(values)}"
        partial = ", ".join(f"{_VALUES[v][0]} AS {v}" for v in values)
        merge = ", ".join(f"{_VALUES[v][1]} AS {v}" for v in values)
        store.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _dg_merged AS
            SELECT day, account_id, {keys}, {merge} FROM (
                SELECT {columns} FROM {table} WHERE day = $day
                UNION ALL SELECT day, account_id, {keys}, {partial} FROM _dg_day_rows GROUP BY ALL
            ) GROUP BY ALL
        """, {"day": day})
        store.con.execute(f"DELETE FROM {table} WHERE day = $day", {"day": day})
        store.con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _dg_merged")
    store.con.execute("DROP TABLE _dg_day_rows")
    store.con.execute("DROP TABLE _dg_merged")


def kept_slot(store: SqlSource) -> int | None:
    """The activity slot (seconds) of the kept aggregates when they hold every stored exchange, else None
    (also for a source other than the DuckDB store, e.g. Spark's, which has none)."""
    if not isinstance(store, Store):
        return None
    state = store.query("SELECT exchanges, slot_s FROM traffic_days_state").to_pylist()
    until, n = _rows(store)
    if not state or state[0]["exchanges"] != until or until != n:
        return None
    return int(state[0]["slot_s"])


_CLIENT_PAIRS = "SELECT account_id, user_agent, tls_ja4, sum(n)::BIGINT AS n FROM day_clients GROUP BY ALL ORDER BY ALL"
_ACCOUNT_EXITS = """
WITH per_exit AS (SELECT account_id, ip, sum(n)::BIGINT AS n, min(first_ts) AS first_at FROM day_addresses GROUP BY ALL)
SELECT p.account_id, p.ip, p.n, min(p.first_at) OVER (PARTITION BY p.account_id) AS first_seen, a.created_at
FROM per_exit p LEFT JOIN accounts a USING (account_id)
ORDER BY p.account_id, p.ip
"""
_REQUEST_PARAMETERS = "WITH " + REQUEST_PARAMETERS_OF.format(days="day_requests")


def client_pairs(store: Store) -> pa.Table:
    """:func:`distillguard.store.traffic.client_pairs` of all the traffic, from the kept aggregates."""
    return store.query(_CLIENT_PAIRS)


def account_exits(store: Store) -> pa.Table:
    """:func:`distillguard.store.traffic.account_exits` of all the traffic, from the kept aggregates."""
    return store.query(_ACCOUNT_EXITS)


def request_parameters(store: Store, near_top: float) -> pa.Table:
    """:func:`distillguard.store.traffic.request_parameters` of all the traffic, from the kept aggregates."""
    return store.query(_REQUEST_PARAMETERS, {"near_top": near_top})
