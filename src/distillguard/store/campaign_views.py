"""What a campaign page draws, read in one pass for many campaigns, and kept per run: ``campaign_views``.

The traffic per hour and the sampled linking graph each scan the stored exchanges once, whatever the number of
campaigns asked for; a run's are computed when it is saved (by the analysis layer) and kept keyed by run,
campaign and view, so the console serves them without reading the traffic again.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store

_HOURS = """
WITH m AS (SELECT DISTINCT campaign_id, account_id FROM _dg_members)
SELECT m.campaign_id, date_trunc('hour', e.ts) AS hour, e.account_id, e.model,
       coalesce(s.capability, 'unknown') AS capability,
       count(*) AS n,
       count(*) FILTER (WHERE coalesce(s.cot_score, 0) >= $threshold
                        OR coalesce(s.reasoning_requested, 0) >= $threshold) AS n_elicit,
       count(*) FILTER (WHERE coalesce(s.cot_score, 0) >= $threshold) AS n_words
FROM exchanges e JOIN signals s USING (rid) JOIN m ON m.account_id = e.account_id
WHERE e.account_id IN (SELECT account_id FROM m) AND s.account_id IN (SELECT account_id FROM m)
GROUP BY ALL
"""
_SIGNUPS = """
SELECT DISTINCT m.campaign_id, a.account_id, a.created_at FROM accounts a JOIN _dg_members m USING (account_id)
WHERE a.created_at IS NOT NULL
"""
_SUBNET = "regexp_replace(ip, '\\.[0-9]+$', '') || '.0/24'"
_GRAPHS = f"""
WITH s AS (
    SELECT campaign_id, account_id, risk, count(*) OVER (PARTITION BY campaign_id) AS members
    FROM decisions WHERE run_id = $run AND campaign_id IN (SELECT unnest($campaigns))
    QUALIFY row_number() OVER (PARTITION BY campaign_id ORDER BY key64(account_id)) <= $max_accounts
),
e AS (
    SELECT DISTINCT account_id, ip, coalesce(user_agent, '') || ' | ' || coalesce(tls_ja4, '') AS client
    FROM exchanges WHERE account_id IN (SELECT account_id FROM s)
),
r AS (SELECT * FROM accounts WHERE account_id IN (SELECT account_id FROM s)),
shown AS (
    SELECT s.campaign_id, k.* FROM s JOIN (
        SELECT account_id, 'ip' AS kind, ip AS value FROM e
        UNION SELECT account_id, 'subnet', {_SUBNET} FROM e WHERE ip NOT LIKE '%:%'
        UNION SELECT account_id, 'client', client FROM e WHERE client <> ' | '
        UNION SELECT account_id, 'payment', payment_fingerprint FROM r WHERE payment_fingerprint IS NOT NULL
        UNION SELECT account_id, 'signup_ip', signup_ip FROM r WHERE signup_ip IS NOT NULL
    ) k USING (account_id)
),
shared AS (
    SELECT campaign_id, kind, value, count(*) AS accounts FROM shown GROUP BY campaign_id, kind, value
    HAVING count(*) >= 2
    QUALIFY row_number() OVER (PARTITION BY campaign_id, kind ORDER BY count(*) DESC, value) <= $max_indicators // 5
),
links AS (
    SELECT shown.*, shared.accounts FROM shown JOIN shared USING (campaign_id, kind, value)
    QUALIFY row_number() OVER (PARTITION BY campaign_id, account_id ORDER BY shared.accounts, kind, value) <= $per_account
)
SELECT s.campaign_id, s.account_id, s.risk, s.members, links.kind, links.value, links.accounts
FROM s LEFT JOIN links USING (campaign_id, account_id)
ORDER BY s.campaign_id, s.account_id, links.kind, links.value
"""
_VIEW = "SELECT body FROM campaign_views WHERE run_id = $run AND campaign_id = $campaign AND view = $view"
_KEEP = """
INSERT OR REPLACE INTO campaign_views (run_id, campaign_id, view, body)
SELECT run_id, campaign_id, view, body FROM _dg_views
"""
VIEW_SCHEMA = pa.schema([("run_id", pa.string()), ("campaign_id", pa.string()), ("view", pa.string()),
                         ("body", pa.string())])
"""The rows :func:`keep_views` stores."""


def campaigns_hours(store: Store, members: pa.Table, threshold: float) -> pa.Table:
    """Per campaign of ``members`` (``campaign_id, account_id``), its members' traffic per hour, account, model and
    capability: the columns of :func:`distillguard.store.traffic.campaign_hours` after ``campaign_id``.

    One scan of the exchanges for all the campaigns; ``n_elicit`` and ``n_words`` count as there.
    """
    return _arrow(store, _HOURS, {"threshold": threshold}, "campaign traffic per hour", members)


def campaigns_signups(store: Store, members: pa.Table) -> pa.Table:
    """``campaign_id, account_id, created_at`` of the members (of ``members``) with a creation time on record."""
    return _arrow(store, _SIGNUPS, {}, "campaign members' signups", members)


def campaign_graphs(store: Store, run_id: str, campaign_ids: list[str], *, max_accounts: int, max_indicators: int,
                    per_account: int) -> pa.Table:
    """The account–indicator links of some campaigns of a run, in one scan of the exchanges:
    ``campaign_id, account_id, risk, members, kind, value, accounts`` (the run's decision's risk).

    Per campaign, at most ``max_accounts`` members (a fixed pseudo-random sample when there are more; ``members``
    counts them all). The indicators (IP, /24 subnet, client, payment fingerprint, signup IP) are those at least
    two sampled members show, per kind the fifth of ``max_indicators`` shown by most; each member keeps its
    ``per_account`` rarest of them (``accounts``: how many sampled members show it). A member without one has one
    row with ``kind`` null.
    """
    params = {"run": run_id, "campaigns": campaign_ids, "max_accounts": max_accounts,
              "max_indicators": max_indicators, "per_account": per_account}
    return _arrow(store, _GRAPHS, params, f"linking graphs of run {run_id}")


def stored_view(store: Store, run_id: str, campaign_id: str, view: str) -> str | None:
    """The kept body of a campaign's view in a run, or None."""
    rows = _arrow(store, _VIEW, {"run": run_id, "campaign": campaign_id, "view": view},
                  f"view {view} of campaign {campaign_id}").column("body").to_pylist()
    return str(rows[0]) if rows else None


def keep_views(store: Store, views: pa.Table) -> None:
    """Store (or replace) views, rows of :data:`VIEW_SCHEMA`, in one transaction."""
    with store.transaction("campaign views not stored", _dg_views=views.cast(VIEW_SCHEMA)) as con:
        con.execute(_KEEP)


def _arrow(store: Store, sql: str, params: dict[str, Any], what: str, members: pa.Table | None = None) -> pa.Table:
    try:
        cursor = store.cursor()  # a cursor per read: the console's requests run on several threads
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read {what}: {exc}") from exc
    try:
        if members is not None:
            cursor.register("_dg_members", members)
        return cursor.sql(sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read {what}: {exc}") from exc
    finally:
        cursor.close()
