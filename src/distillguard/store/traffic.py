"""Reads of the stored traffic: its extent, the statistics input, account records, a campaign's hours,
and the population-wide inputs of the client, exit and request-parameter signals."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from distillguard.store.duckdb_store import Store
from distillguard.store.source import SqlSource

SLICE_ROWS = 500_000
"""Target exchanges per time slice: a sorted result is held whole by DuckDB, so sort slice by slice."""

_EXTENT = "SELECT min(ts) AS lo, max(ts) AS hi, count(*) AS n FROM exchanges e WHERE {where}"
_STAT_INPUT = """
SELECT {columns} FROM exchanges e JOIN signals s USING (rid)
WHERE e.ts >= $lo AND e.ts < $hi AND s.ts >= $lo AND s.ts < $hi AND {where} ORDER BY e.ts, e.rid
"""
_CONTEXT = "SELECT account_id, category, verification, created_at, email_domain FROM accounts"
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
_BEFORE = "ts < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)"
_CLIENT_PAIRS = f"""
SELECT account_id, user_agent, tls_ja4, count(*) AS n FROM exchanges WHERE {_BEFORE} GROUP BY ALL ORDER BY ALL
"""
_ACCOUNT_EXITS = f"""
WITH per_exit AS (
    SELECT account_id, ip, count(*) AS n, min(ts) AS first_at FROM exchanges WHERE {_BEFORE} GROUP BY account_id, ip
)
SELECT p.account_id, p.ip, p.n, min(p.first_at) OVER (PARTITION BY p.account_id) AS first_seen, a.created_at
FROM per_exit p LEFT JOIN accounts a USING (account_id)
ORDER BY p.account_id, p.ip
"""
REQUEST_PARAMETERS_OF = """
top AS (SELECT model, max(thinking_budget) AS top_budget FROM {days} GROUP BY model),
req AS (
    SELECT e.account_id, e.day, e.model, e.thinking_budget, e.n,
           nullif(lower(trim(e.reasoning_effort)), '') AS effort,
           (e.thinking_budget > 0 AND e.thinking_budget >= $near_top * t.top_budget) AS maxed_budget
    FROM {days} e JOIN top t USING (model)
),
daily AS (
    SELECT account_id, day, sum(n) AS n,
           coalesce(sum(n) FILTER (WHERE maxed_budget OR effort IN ('high', 'xhigh', 'max')), 0) AS n_maxed,
           count(DISTINCT model) AS models,
           count(DISTINCT coalesce(thinking_budget::VARCHAR, effort)) AS settings
    FROM req GROUP BY account_id, day
)
SELECT account_id, sum(n)::BIGINT AS n, sum(n_maxed)::BIGINT AS n_maxed,
       max(models)::BIGINT AS daily_models, max(settings)::BIGINT AS daily_settings
FROM daily GROUP BY account_id ORDER BY account_id
"""
"""The CTEs and query of :func:`request_parameters` over ``{days}``: a table of request shapes per account and
UTC day (``account_id, day, model, thinking_budget, reasoning_effort, n``), the stored exchanges' or the kept
aggregates' (:mod:`distillguard.store.traffic_days`)."""
_REQUEST_PARAMETERS = f"""
WITH seen AS (
    SELECT account_id, date_trunc('day', ts) AS day, model, thinking_budget, reasoning_effort, count(*) AS n
    FROM exchanges WHERE {_BEFORE} GROUP BY ALL
),
""" + REQUEST_PARAMETERS_OF.format(days="seen")


def exchange_count(store: Store) -> int:
    """How many exchanges the store holds."""
    return int(store.query(_EXTENT.format(where="TRUE")).column("n")[0].as_py())


def data_end(store: Store) -> datetime | None:
    """Time of the newest stored exchange."""
    end: datetime | None = store.query(_EXTENT.format(where="TRUE")).column("hi")[0].as_py()
    return end


def stat_input_batches(store: Store, columns: Sequence[str], from_signals: Collection[str], batch_size: int,
                       where: str = "TRUE", params: dict[str, Any] | None = None) -> Iterator[pa.Table]:
    """Every stored exchange ``e`` meeting ``where`` (with ``params``; every one by default), in time order, with
    ``columns`` (those in ``from_signals`` read from its signals).

    The store is read in time slices of about :data:`SLICE_ROWS` exchanges, each sorted on its own, so
    memory stays bounded whatever the store's size (both tables are filtered on ``ts``, which DuckDB's
    zone maps prune cheaply).
    """
    lo, hi, n = store.query(_EXTENT.format(where=where), params).to_pylist()[0].values()
    if not n:
        return
    sql = _STAT_INPUT.format(columns=", ".join(f"s.{c}" if c in from_signals else f"e.{c}" for c in columns), where=where)
    width = max((hi - lo) * SLICE_ROWS / n, timedelta(minutes=1))
    start = lo
    while start <= hi:
        yield from store.scan(sql, {**(params or {}), "lo": start, "hi": start + width}, batch_size=batch_size)
        start += width


def account_records(store: SqlSource) -> pa.Table:
    """``account_id, category, verification, created_at, email_domain`` of every stored account record."""
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


def client_pairs(store: SqlSource, until: datetime | None = None) -> pa.Table:
    """``account_id, user_agent, tls_ja4, n``: each account's exchanges per client claim and TLS stack (nulls kept).

    Here and in the other population reads, only exchanges before ``until`` count (all when None).
    """
    return store.query(_CLIENT_PAIRS, {"until": until})


def account_exits(store: SqlSource, until: datetime | None = None) -> pa.Table:
    """``account_id, ip, n, first_seen, created_at``: each account's exchanges per address.

    ``first_seen`` is the account's first exchange anywhere; ``created_at`` its record's creation time
    (null without a record).
    """
    return store.query(_ACCOUNT_EXITS, {"until": until})


def request_parameters(store: SqlSource, near_top: float, until: datetime | None = None) -> pa.Table:
    """Per account: ``n`` exchanges, ``n_maxed`` with a maxed reasoning request, and ``daily_models`` and
    ``daily_settings``, the most distinct models and reasoning settings in one UTC day.

    A thinking budget is maxed at ``near_top`` times the largest budget any account sent to the model or more,
    an effort at ``high`` or above. A setting is a thinking budget or an effort level.
    """
    return store.query(_REQUEST_PARAMETERS, {"near_top": near_top, "until": until})
