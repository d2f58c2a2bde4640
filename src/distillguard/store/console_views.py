"""The reads behind the console's pages: overview, campaign list, campaign members, accounts, search.

Every function takes the run it reads (the console passes the newest, :func:`distillguard.store.runs.latest_run_id`)
and returns plain rows; the action in force of an account is its latest administrators' override, else its decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store

_OVERRIDES = "SELECT account_id, action FROM overrides QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY seq DESC) = 1"
_IN_FORCE = f"""
WITH o AS ({_OVERRIDES})
SELECT d.*, o.action AS override, coalesce(o.action, d.action) AS in_force
FROM decisions d LEFT JOIN o USING (account_id) WHERE d.run_id = $run
"""

_RUNS = "SELECT run_id, kind, started_at, finished_at FROM runs ORDER BY finished_at DESC NULLS LAST, started_at DESC"
_FLAGGED_SERIES = """
WITH span AS (SELECT min(ts) AS lo, max(ts) AS hi FROM signals),
unit AS (SELECT CASE WHEN hi - lo <= INTERVAL 3 DAY THEN 'hour' ELSE 'day' END AS u FROM span),
active AS (
    SELECT date_trunc((SELECT u FROM unit), ts) AS t, count(DISTINCT account_id) AS flagged FROM signals
    WHERE account_id IN (SELECT account_id FROM decisions WHERE run_id = $run AND flagged) GROUP BY ALL
),
running AS (
    SELECT a.t, count(c.campaign_id) AS campaigns
    FROM active a LEFT JOIN campaigns c
    ON c.run_id = $run AND date_trunc((SELECT u FROM unit), c.first_seen) <= a.t AND a.t <= c.last_seen
    GROUP BY a.t
)
SELECT t, flagged, campaigns, (SELECT u FROM unit) AS unit FROM active JOIN running USING (t) ORDER BY t
"""
_ACTIONS = f"""
SELECT in_force AS action, count(*) AS accounts, count(*) FILTER (WHERE override IS NOT NULL) AS overridden
FROM ({_IN_FORCE}) WHERE in_force <> 'allow' GROUP BY ALL ORDER BY accounts DESC, action
"""
_DETECTORS = """
SELECT e.detector AS detector, count(DISTINCT account_id) AS accounts, avg(e.score) AS mean_score
FROM (SELECT account_id, unnest(evidence) AS e FROM decisions WHERE run_id = $run AND flagged)
GROUP BY ALL ORDER BY accounts DESC, detector LIMIT $top
"""
_CHANGES = """
WITH a AS (SELECT account_id, flagged, action FROM decisions WHERE run_id = $new),
b AS (SELECT account_id, flagged, action FROM decisions WHERE run_id = $old)
SELECT count(*) FILTER (WHERE a.flagged AND NOT coalesce(b.flagged, FALSE)) AS newly_flagged,
       count(*) FILTER (WHERE b.flagged AND NOT coalesce(a.flagged, FALSE)) AS no_longer_flagged,
       count(*) FILTER (WHERE a.action IS DISTINCT FROM b.action AND a.account_id IS NOT NULL
                        AND b.account_id IS NOT NULL) AS action_changed,
       (SELECT count(*) FROM campaigns WHERE run_id = $new
        AND campaign_id NOT IN (SELECT campaign_id FROM campaigns WHERE run_id = $old)) AS new_campaigns,
       (SELECT count(*) FROM campaigns WHERE run_id = $old
        AND campaign_id NOT IN (SELECT campaign_id FROM campaigns WHERE run_id = $new)) AS gone_campaigns
FROM a FULL JOIN b USING (account_id)
"""
_RUN_TOTALS = """
SELECT count(*) AS accounts, count(*) FILTER (WHERE flagged) AS flagged,
       (SELECT count(*) FROM campaigns WHERE run_id = $run) AS campaigns
FROM decisions WHERE run_id = $run
"""

CAMPAIGN_SORTS: dict[str, str] = {
    "confidence": "confidence", "size": "n_accounts", "exchanges": "n_exchanges", "first_seen": "first_seen",
    "last_seen": "last_seen", "capability": "capability", "action": "action", "campaign": "campaign_id",
}
"""Sort keys of the campaign list → their column."""
_CAMPAIGNS = """
WITH c AS (
    SELECT campaign_id, n_accounts, n_exchanges, first_seen, last_seen, confidence,
           CAST(record->'capabilities' AS MAP(VARCHAR, DOUBLE)) AS caps
    FROM campaigns WHERE run_id = $run
),
a AS (SELECT campaign_id, mode(in_force) AS action FROM ({in_force}) WHERE campaign_id IS NOT NULL GROUP BY ALL),
rows AS (
    SELECT c.* EXCLUDE (caps), coalesce(a.action, 'allow') AS action,
           (SELECT k FROM (SELECT unnest(map_keys(caps)) AS k, unnest(map_values(caps)) AS v) ORDER BY v DESC, k LIMIT 1)
               AS capability
    FROM c LEFT JOIN a USING (campaign_id)
)
SELECT *, count(*) OVER () AS total FROM rows
WHERE ($min_confidence IS NULL OR confidence >= $min_confidence)
  AND ($min_size IS NULL OR n_accounts >= $min_size) AND ($max_size IS NULL OR n_accounts <= $max_size)
  AND ($capability IS NULL OR capability = $capability) AND ($action IS NULL OR action = $action)
  AND ($seen_after IS NULL OR last_seen >= $seen_after) AND ($seen_before IS NULL OR first_seen <= $seen_before)
ORDER BY {sort} {direction} NULLS LAST, campaign_id LIMIT $limit OFFSET $offset
"""
_CAMPAIGN = "SELECT record FROM campaigns WHERE run_id = $run AND campaign_id = $campaign"
_MEMBERS = f"""
SELECT m.account_id, m.risk, m.action, m.override, m.in_force, m.flagged, a.category, a.verification, a.created_at,
       count(*) OVER () AS total
FROM ({_IN_FORCE}) m LEFT JOIN accounts a USING (account_id)
WHERE m.campaign_id = $campaign
ORDER BY m.risk DESC, m.account_id LIMIT $limit OFFSET $offset
"""
_MEMBER_COUNTS = f"""
SELECT count(*) AS accounts, count(*) FILTER (WHERE flagged) AS flagged, mode(in_force) AS action
FROM ({_IN_FORCE}) WHERE campaign_id = $campaign
"""
_ACCOUNT = f"""
WITH d AS ({_IN_FORCE} AND d.account_id = $account)
SELECT a.account_id, a.created_at, a.category, a.email_domain, a.country, a.verification, a.signup_ip,
       a.payment_fingerprint, d.risk, d.action, d.override, d.in_force, d.flagged, d.campaign_id, d.flagged_at,
       d.evidence
FROM (SELECT $account AS account_id) k LEFT JOIN accounts a USING (account_id) LEFT JOIN d USING (account_id)
"""
_ACCOUNT_SEEN = """
SELECT count(*) AS exchanges, min(ts) AS first, max(ts) AS last, count(DISTINCT ip) AS ips,
       CASE WHEN max(ts) - min(ts) <= INTERVAL 3 DAY THEN 'hour' ELSE 'day' END AS unit
FROM exchanges WHERE account_id = $account
"""
_ACCOUNT_SERIES = """
SELECT date_trunc($unit, e.ts) AS t, count(*) AS exchanges,
       count(*) FILTER (WHERE coalesce(s.cot_score, 0) >= $threshold) AS eliciting
FROM exchanges e LEFT JOIN signals s USING (rid) WHERE e.account_id = $account GROUP BY ALL ORDER BY t
"""
_SAMPLES = """
SELECT rid, ts, model, endpoint, ip, user_agent, length(coalesce(prompt, '')) AS prompt_chars,
       length(coalesce(response_text, '')) AS response_chars, length(coalesce(response_reasoning, '')) AS reasoning_chars,
       prompt IS NOT NULL OR response_text IS NOT NULL OR response_reasoning IS NOT NULL AS has_text
FROM exchanges WHERE account_id = $account ORDER BY ts DESC, rid LIMIT $limit
"""
_EXCHANGE_TEXT = "SELECT account_id, system, prompt, response_reasoning, response_text FROM exchanges WHERE rid = $rid"
_LINKED = """
WITH me AS (SELECT payment_fingerprint AS pf, signup_ip FROM accounts WHERE account_id = $account),
ips AS (SELECT DISTINCT ip FROM exchanges WHERE account_id = $account),
peers AS (
    SELECT account_id, 'same payment fingerprint' AS why FROM accounts
    WHERE payment_fingerprint = (SELECT pf FROM me)
    UNION SELECT account_id, 'same signup IP' FROM accounts WHERE signup_ip = (SELECT signup_ip FROM me)
    UNION SELECT account_id, 'same campaign' FROM decisions
    WHERE run_id = $run AND campaign_id IS NOT NULL AND campaign_id =
          (SELECT campaign_id FROM decisions WHERE run_id = $run AND account_id = $account)
    UNION SELECT DISTINCT account_id, 'shares an IP' FROM exchanges WHERE ip IN (SELECT ip FROM ips)
)
SELECT account_id, string_agg(DISTINCT why, ', ' ORDER BY why) AS why, count(*) AS links
FROM peers WHERE account_id <> $account GROUP BY ALL ORDER BY links DESC, account_id LIMIT $limit
"""

_SEARCH_ACCOUNTS = """
SELECT account_id, 'account id' AS matched FROM (
    SELECT account_id FROM accounts UNION SELECT account_id FROM decisions WHERE run_id = $run
) WHERE starts_with(account_id, $q) ORDER BY account_id LIMIT $limit
"""
_SEARCH_IP = """
SELECT account_id, string_agg(DISTINCT matched, ', ' ORDER BY matched) AS matched FROM (
    SELECT DISTINCT account_id, 'used IP ' || ip AS matched FROM exchanges WHERE starts_with(ip, $q)
    UNION SELECT account_id, 'signed up from ' || signup_ip FROM accounts WHERE starts_with(signup_ip, $q)
) GROUP BY ALL ORDER BY account_id LIMIT $limit
"""
_SEARCH_INDICATOR = """
SELECT account_id, string_agg(DISTINCT matched, ', ' ORDER BY matched) AS matched FROM (
    SELECT account_id, 'payment fingerprint' AS matched FROM accounts WHERE payment_fingerprint = $q
    UNION SELECT account_id, 'e-mail domain' FROM accounts WHERE email_domain = lower($q)
    UNION SELECT account_id, 'partner report' FROM partner_indicators WHERE indicator = $q
    UNION SELECT DISTINCT account_id, 'client' FROM exchanges
    WHERE length($q) >= 3 AND (contains(user_agent, $q) OR tls_ja4 = $q)
) GROUP BY ALL ORDER BY account_id LIMIT $limit
"""
_SEARCH_CAMPAIGNS = """
SELECT DISTINCT c.campaign_id, c.n_accounts, c.confidence,
       CASE WHEN starts_with(c.campaign_id, $q) THEN 'campaign id' ELSE 'shared indicator' END AS matched
FROM campaigns c WHERE c.run_id = $run AND (starts_with(c.campaign_id, $q) OR (length($q) >= 3 AND EXISTS (
    SELECT 1 FROM (SELECT unnest(json_extract(c.record, '$.indicators.*[*].value')) AS v) WHERE v->>'$' = $q)))
ORDER BY c.n_accounts DESC, c.campaign_id LIMIT $limit
"""


def runs(store: Store) -> list[dict[str, Any]]:
    """``run_id, kind, started_at, finished_at`` of every run, newest first."""
    return _rows(store, _RUNS, {}, "runs")


def run_totals(store: Store, run_id: str) -> dict[str, Any]:
    """``accounts`` decided, ``flagged`` and ``campaigns`` of a run."""
    return _rows(store, _RUN_TOTALS, {"run": run_id}, f"totals of run {run_id}")[0]


def flagged_series(store: Store, run_id: str) -> list[dict[str, Any]]:
    """``t, flagged, campaigns, unit``: per hour (per day, for traffic over three days) the accounts a run flagged
    that were active then, and the run's campaigns running then."""
    return _rows(store, _FLAGGED_SERIES, {"run": run_id}, f"flag times of run {run_id}")


def actions_in_force(store: Store, run_id: str) -> list[dict[str, Any]]:
    """``action, accounts, overridden``: accounts per action in force (other than allow), of them overridden."""
    return _rows(store, _ACTIONS, {"run": run_id}, "actions in force")


def top_detectors(store: Store, run_id: str, top: int = 10) -> list[dict[str, Any]]:
    """``detector, accounts, mean_score``: the detectors behind most flagged accounts of a run."""
    return _rows(store, _DETECTORS, {"run": run_id, "top": top}, f"detectors of run {run_id}")


def changes(store: Store, new_run: str, old_run: str) -> dict[str, Any]:
    """What changed from ``old_run`` to ``new_run``: ``newly_flagged, no_longer_flagged, action_changed,
    new_campaigns, gone_campaigns``."""
    return _rows(store, _CHANGES, {"new": new_run, "old": old_run}, "changes between runs")[0]


def campaign_list(store: Store, run_id: str, *, sort: str = "confidence", descending: bool = True,
                  limit: int = 50, offset: int = 0, min_confidence: float | None = None, min_size: int | None = None,
                  max_size: int | None = None, capability: str | None = None, action: str | None = None,
                  seen_after: datetime | None = None, seen_before: datetime | None = None) -> list[dict[str, Any]]:
    """A page of a run's campaigns, filtered and sorted (a key of :data:`CAMPAIGN_SORTS`).

    Rows: ``campaign_id, n_accounts, n_exchanges, first_seen, last_seen, confidence, action`` (the members' most
    common action in force), ``capability`` (the main one) and ``total``, the rows passing the filters.
    """
    if sort not in CAMPAIGN_SORTS:
        raise StoreError(f"campaign list: unknown sort {sort!r}; expected one of {', '.join(CAMPAIGN_SORTS)}")
    sql = _CAMPAIGNS.format(in_force=_IN_FORCE, sort=CAMPAIGN_SORTS[sort], direction="DESC" if descending else "ASC")
    params = {"run": run_id, "limit": limit, "offset": offset, "min_confidence": min_confidence, "min_size": min_size,
              "max_size": max_size, "capability": capability, "action": action, "seen_after": seen_after,
              "seen_before": seen_before}
    return _rows(store, sql, params, f"campaigns of run {run_id}")


def campaign_record(store: Store, run_id: str, campaign_id: str) -> str | None:
    """The stored JSON record of a campaign of a run, or None."""
    rows = _rows(store, _CAMPAIGN, {"run": run_id, "campaign": campaign_id}, f"campaign {campaign_id}")
    return str(rows[0]["record"]) if rows else None


def campaign_members(store: Store, run_id: str, campaign_id: str, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """A page of a campaign's members, riskiest first: ``account_id, risk, action, override, in_force, flagged,
    category, verification, created_at, total``."""
    return _rows(store, _MEMBERS, {"run": run_id, "campaign": campaign_id, "limit": limit, "offset": offset},
                 f"members of {campaign_id}")


def member_counts(store: Store, run_id: str, campaign_id: str) -> dict[str, Any]:
    """``accounts, flagged`` and the most common ``action`` in force among a campaign's members."""
    return _rows(store, _MEMBER_COUNTS, {"run": run_id, "campaign": campaign_id}, f"members of {campaign_id}")[0]


def account(store: Store, run_id: str | None, account_id: str) -> dict[str, Any]:
    """An account's record (nulls without one) and its decision in ``run_id`` (nulls without one), evidence
    included."""
    return _rows(store, _ACCOUNT, {"run": run_id, "account": account_id}, f"account {account_id}")[0]


def account_activity(store: Store, account_id: str) -> dict[str, Any]:
    """``exchanges, first, last, ips`` of an account's traffic and the ``unit`` (hour or day) its series uses."""
    return _rows(store, _ACCOUNT_SEEN, {"account": account_id}, f"traffic of {account_id}")[0]


def account_series(store: Store, account_id: str, unit: str, threshold: float) -> list[dict[str, Any]]:
    """``t, exchanges, eliciting``: an account's exchanges per ``unit`` (hour or day), those whose chain-of-thought
    score reaches ``threshold``."""
    if unit not in ("hour", "day"):
        raise StoreError(f"account series: unit {unit!r}; expected hour or day")
    return _rows(store, _ACCOUNT_SERIES, {"account": account_id, "unit": unit, "threshold": threshold},
                 f"traffic of {account_id}")


def sample_exchanges(store: Store, account_id: str, limit: int) -> list[dict[str, Any]]:
    """An account's newest exchanges without their text: ``rid, ts, model, endpoint, ip, user_agent``, the
    lengths of prompt, response and reasoning, and ``has_text`` (whether the store kept any)."""
    return _rows(store, _SAMPLES, {"account": account_id, "limit": limit}, f"exchanges of {account_id}")


def exchange_text(store: Store, rid: int) -> dict[str, Any] | None:
    """``account_id, system, prompt, response_reasoning, response_text`` of one exchange, or None."""
    rows = _rows(store, _EXCHANGE_TEXT, {"rid": rid}, f"exchange {rid}")
    return rows[0] if rows else None


def linked_accounts(store: Store, run_id: str | None, account_id: str, limit: int) -> list[dict[str, Any]]:
    """``account_id, why, links``: accounts sharing a payment fingerprint, signup IP, IP or campaign with one."""
    return _rows(store, _LINKED, {"run": run_id, "account": account_id, "limit": limit}, f"links of {account_id}")


def search(store: Store, run_id: str | None, query: str, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Accounts whose id starts with ``query``; accounts that used or signed up from an IP starting with it;
    accounts showing it as an indicator; campaigns whose id starts with it or that share it as an indicator."""
    params = {"q": query, "limit": limit}
    return {
        "accounts": _rows(store, _SEARCH_ACCOUNTS, {**params, "run": run_id}, "account search"),
        "ips": _rows(store, _SEARCH_IP, params, "IP search"),
        "indicators": _rows(store, _SEARCH_INDICATOR, params, "indicator search"),
        "campaigns": _rows(store, _SEARCH_CAMPAIGNS, {**params, "run": run_id}, "campaign search"),
    }


def _rows(store: Store, sql: str, params: dict[str, Any], what: str) -> list[dict[str, Any]]:
    try:
        cursor = store.cursor()  # a cursor per read: the console's requests run on several threads
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read {what}: {exc}") from exc
    try:
        result = cursor.execute(sql, params)
        names = [d[0] for d in result.description or ()]
        return [dict(zip(names, row)) for row in result.fetchall()]
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read {what}: {exc}") from exc
    finally:
        cursor.close()
