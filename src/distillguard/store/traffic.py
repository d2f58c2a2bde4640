"""Reads of the stored traffic: its extent, the statistics input, account records, a campaign's hours."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta

import pyarrow as pa

from distillguard.store.duckdb_store import Store

SLICE_ROWS = 500_000
"""Target exchanges per time slice: a sorted result is held whole by DuckDB, so sort slice by slice."""

_EXTENT = "SELECT min(ts) AS lo, max(ts) AS hi, count(*) AS n FROM exchanges"
_STAT_INPUT = """
SELECT {columns} FROM exchanges e JOIN signals s USING (rid)
WHERE e.ts >= $lo AND e.ts < $hi AND s.ts >= $lo AND s.ts < $hi ORDER BY e.ts, e.rid
"""
_CONTEXT = "SELECT account_id, category, verification, created_at FROM accounts"
_CAMPAIGN_HOURS = """
WITH m AS (SELECT DISTINCT unnest($members) AS account_id)
SELECT date_trunc('hour', e.ts) AS hour, e.account_id, e.model,
       coalesce(s.capability, 'unknown') AS capability,
       count(*) AS n,
       count(*) FILTER (WHERE coalesce(s.cot_score, 0) >= $threshold
                        OR coalesce(s.reasoning_requested, 0) >= $threshold) AS n_elicit,
       count(*) FILTER (WHERE coalesce(s.cot_score, 0) >= $threshold) AS n_words
FROM exchanges e JOIN signals s USING (rid)
WHERE e.account_id IN (SELECT account_id FROM m) AND s.account_id IN (SELECT account_id FROM m)
GROUP BY ALL
"""
_MEMBER_SIGNUPS = """
SELECT account_id, created_at FROM accounts
WHERE account_id IN (SELECT unnest($members)) AND created_at IS NOT NULL
"""
_MODEL_FIRST_SEEN = "SELECT model, min(ts) AS first_seen FROM exchanges GROUP BY model"


def exchange_count(store: Store) -> int:
    """How many exchanges the store holds."""
    return int(store.query(_EXTENT).column("n")[0].as_py())


def data_end(store: Store) -> datetime | None:
    """Time of the newest stored exchange."""
    end: datetime | None = store.query(_EXTENT).column("hi")[0].as_py()
    return end


def stat_input_batches(store: Store, columns: Sequence[str], from_signals: Collection[str],
                       batch_size: int) -> Iterator[pa.Table]:
    """Every stored exchange in time order with ``columns`` (those in ``from_signals`` read from its signals).

    The store is read in time slices of about :data:`SLICE_ROWS` exchanges, each sorted on its own, so
    memory stays bounded whatever the store's size (both tables are filtered on ``ts``, which DuckDB's
    zone maps prune cheaply).
    """
    lo, hi, n = store.query(_EXTENT).to_pylist()[0].values()
    if not n:
        return
    sql = _STAT_INPUT.format(columns=", ".join(f"s.{c}" if c in from_signals else f"e.{c}" for c in columns))
    width = max((hi - lo) * SLICE_ROWS / n, timedelta(minutes=1))
    start = lo
    while start <= hi:
        yield from store.scan(sql, {"lo": start, "hi": start + width}, batch_size=batch_size)
        start += width


def account_records(store: Store) -> pa.Table:
    """``account_id, category, verification, created_at`` of every stored account record."""
    return store.query(_CONTEXT)


def campaign_hours(store: Store, members: list[str], threshold: float) -> pa.Table:
    """The members' traffic per hour, account, model and capability, with the exchanges eliciting reasoning.

    ``n_elicit`` counts exchanges whose chain-of-thought score or requested reasoning reaches
    ``threshold``; ``n_words`` those asking for reasoning in words (the score alone).
    """
    return store.query(_CAMPAIGN_HOURS, {"members": members, "threshold": threshold})


def member_signups(store: Store, members: list[str]) -> pa.Table:
    """``account_id, created_at`` of the members that have an account record with a creation time."""
    return store.query(_MEMBER_SIGNUPS, {"members": members})


def model_first_seen(store: Store) -> dict[str, datetime]:
    """When each model first appears anywhere in the stored traffic."""
    return {r["model"]: r["first_seen"] for r in store.query(_MODEL_FIRST_SEEN).to_pylist()}
