"""Partners' intel in the store: imports, their indicators, the accounts a retro-hunt matched, hunt reports.

``partner_indicators`` holds one row per matched account and partner indicator; the ``partner`` linking
family (:mod:`distillguard.store.linking`) groups accounts by its ``indicator`` column (what the partner
says the indicator indicates). An import is kept whole or not at all (:func:`save_import`): re-importing a
bundle replaces the same rows (STIX ids), an older version of an indicator never replaces a newer one.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from distillguard.store.duckdb_store import Store

INDICATOR_SCHEMA = pa.schema([
    ("stix_id", pa.string()), ("source", pa.string()), ("kind", pa.string()), ("pattern", pa.string()),
    ("matches", pa.string()), ("tlp", pa.string()), ("confidence", pa.int32()),
    ("valid_from", pa.timestamp("us", "UTC")), ("valid_until", pa.timestamp("us", "UTC")),
    ("modified", pa.timestamp("us", "UTC")), ("revoked", pa.bool_()), ("reported_as", pa.string()),
    ("import_id", pa.string()),
])
"""Rows of ``intel_indicators``: ``matches`` is the JSON list of the indicator's terms."""

MATCH_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("indicator", pa.string()), ("source", pa.string()),
    ("reported_at", pa.timestamp("us", "UTC")), ("kind", pa.string()), ("value", pa.string()),
    ("stix_id", pa.string()), ("tlp", pa.string()), ("confidence", pa.int32()),
    ("valid_until", pa.timestamp("us", "UTC")), ("import_id", pa.string()),
])
"""Rows of ``partner_indicators`` the hunt writes."""

WANTED_SCHEMA = pa.schema([
    ("stix_id", pa.string()), ("kind", pa.string()), ("value", pa.string()), ("value2", pa.string()),
])
"""What to look for in the traffic: ``kind`` one of ip, ja4, user_agent, client (``value`` the JA4, ``value2``
the user agent), email_domain, email, payment, account, template; ``value`` raw (keyed values already
resolved to this store's own)."""

_NEWER = """
SELECT i.stix_id FROM _dg_indicators i JOIN intel_indicators s USING (stix_id)
WHERE s.modified IS NOT NULL AND (i.modified IS NULL OR i.modified < s.modified)
"""
_DISTINCT_IPS = """
SELECT DISTINCT ip FROM exchanges
UNION SELECT DISTINCT signup_ip FROM accounts WHERE signup_ip IS NOT NULL
"""
_KEYED_VALUES = """
SELECT DISTINCT 'account' AS kind, account_id AS value FROM exchanges
UNION SELECT 'account', account_id FROM accounts
UNION SELECT 'email', lower(trim(email_local || '@' || email_domain)) FROM accounts
      WHERE email_local IS NOT NULL AND email_domain IS NOT NULL
UNION SELECT 'payment', payment_fingerprint FROM accounts WHERE payment_fingerprint IS NOT NULL
UNION SELECT DISTINCT 'template', CAST(template_key AS VARCHAR) FROM signals WHERE template_key IS NOT NULL AND template_key <> 0
"""
_MATCHES = """
WITH w AS (SELECT * FROM _dg_wanted),
span AS (SELECT account_id, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS n FROM exchanges GROUP BY ALL),
traffic AS (
    SELECT e.account_id, w.stix_id, min(e.ts) AS first_seen, max(e.ts) AS last_seen, count(*) AS n
    FROM exchanges e JOIN w ON w.kind = 'ip' AND e.ip = w.value GROUP BY ALL
    UNION ALL SELECT e.account_id, w.stix_id, min(e.ts), max(e.ts), count(*)
    FROM exchanges e JOIN w ON w.kind = 'client' AND e.tls_ja4 = w.value AND e.user_agent = w.value2 GROUP BY ALL
    UNION ALL SELECT e.account_id, w.stix_id, min(e.ts), max(e.ts), count(*)
    FROM exchanges e JOIN w ON w.kind = 'ja4' AND e.tls_ja4 = w.value GROUP BY ALL
    UNION ALL SELECT e.account_id, w.stix_id, min(e.ts), max(e.ts), count(*)
    FROM exchanges e JOIN w ON w.kind = 'user_agent' AND e.user_agent = w.value GROUP BY ALL
    UNION ALL SELECT s.account_id, w.stix_id, min(s.ts), max(s.ts), count(*)
    FROM signals s JOIN w ON w.kind = 'template' AND CAST(s.template_key AS VARCHAR) = w.value GROUP BY ALL
    UNION ALL SELECT e.account_id, w.stix_id, min(e.ts), max(e.ts), count(*)
    FROM exchanges e JOIN w ON w.kind = 'account' AND e.account_id = w.value GROUP BY ALL
),
records AS (
    SELECT a.account_id, w.stix_id FROM accounts a JOIN w ON w.kind = 'ip' AND a.signup_ip = w.value
    UNION ALL SELECT a.account_id, w.stix_id FROM accounts a JOIN w ON w.kind = 'email_domain'
        AND lower(a.email_domain) = w.value
    UNION ALL SELECT a.account_id, w.stix_id FROM accounts a JOIN w ON w.kind = 'email'
        AND lower(trim(a.email_local || '@' || a.email_domain)) = w.value
    UNION ALL SELECT a.account_id, w.stix_id FROM accounts a JOIN w ON w.kind = 'payment'
        AND a.payment_fingerprint = w.value
    UNION ALL SELECT a.account_id, w.stix_id FROM accounts a JOIN w ON w.kind = 'account' AND a.account_id = w.value
),
hits AS (
    SELECT * FROM traffic
    UNION ALL SELECT r.account_id, r.stix_id, s.first_seen, s.last_seen, coalesce(s.n, 0)
    FROM records r LEFT JOIN span s USING (account_id)
)
SELECT account_id, stix_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen, max(n)::BIGINT AS n
FROM hits GROUP BY ALL ORDER BY account_id, stix_id
"""
_LATEST_DECISIONS = """
WITH latest AS (SELECT run_id FROM runs ORDER BY finished_at DESC NULLS LAST, started_at DESC LIMIT 1)
SELECT d.account_id, d.campaign_id, d.action, d.risk, d.flagged
FROM decisions d JOIN latest USING (run_id) WHERE d.account_id IN (SELECT account_id FROM _dg_accounts)
"""


def distinct_ips(store: Store) -> list[str]:
    """Every address the store saw: exchange addresses and signup addresses."""
    return [str(v) for v in store.query(_DISTINCT_IPS).column("ip").to_pylist()]


def keyed_candidates(store: Store) -> pa.Table:
    """``kind, value``: this store's own account ids, e-mails (lower-cased), payment fingerprints, template keys."""
    return store.query(_KEYED_VALUES)


def matched_accounts(store: Store, wanted: pa.Table) -> pa.Table:
    """``account_id, stix_id, first_seen, last_seen, n``: accounts whose traffic or record shows a wanted value.

    Traffic matches span the matching exchanges; account-record matches (signup address, e-mail, payment,
    account id) the account's whole traffic.
    """
    with store.registered(_dg_wanted=wanted.cast(WANTED_SCHEMA)):
        return store.query(_MATCHES)


def latest_decisions(store: Store, account_ids: list[str]) -> pa.Table:
    """``account_id, campaign_id, action, risk, flagged`` of the given accounts in the newest run."""
    with store.registered(_dg_accounts=pa.table({"account_id": pa.array(account_ids, pa.string())})):
        return store.query(_LATEST_DECISIONS)


def newer_stored(store: Store, indicators: pa.Table) -> set[str]:
    """Ids of ``indicators`` the store holds a newer version of (those stay as stored)."""
    with store.registered(_dg_indicators=indicators.cast(INDICATOR_SCHEMA)):
        return {str(v) for v in store.query(_NEWER).column("stix_id").to_pylist()}


def save_import(store: Store, record: dict[str, Any], indicators: pa.Table, matches: pa.Table,
                report: str) -> None:
    """Keep one import whole or not at all: its log row, its indicators, their matched accounts, the hunt report.

    ``record``: ``import_id, imported_at, source, community, origin, sha256, n_objects, n_indicators,
    n_ignored``. The matches of every indicator in ``indicators`` replace those stored for it.
    """
    with store.transaction("import not stored", _dg_indicators=indicators.cast(INDICATOR_SCHEMA),
                           _dg_matches=matches.cast(MATCH_SCHEMA)) as con:
        con.execute("INSERT OR REPLACE INTO intel_imports VALUES "
                    "($import_id, $imported_at, $source, $community, $origin, $sha256, $n_objects, $n_indicators, "
                    "$n_ignored)", record)
        con.execute("DELETE FROM intel_indicators WHERE stix_id IN (SELECT stix_id FROM _dg_indicators)")
        columns = ", ".join(INDICATOR_SCHEMA.names)
        con.execute(f"INSERT INTO intel_indicators ({columns}) SELECT {columns} FROM _dg_indicators")
        con.execute("DELETE FROM partner_indicators WHERE stix_id IN (SELECT stix_id FROM _dg_indicators)")
        columns = ", ".join(MATCH_SCHEMA.names)
        con.execute(f"INSERT INTO partner_indicators ({columns}) SELECT {columns} FROM _dg_matches")
        con.execute("INSERT OR REPLACE INTO hunt_reports VALUES ($import_id, $imported_at, $report)",
                    {"import_id": record["import_id"], "imported_at": record["imported_at"], "report": report})


def hunt_report(store: Store, import_id: str) -> str | None:
    """The JSON hunt report of an import, or None."""
    rows = store.query("SELECT report FROM hunt_reports WHERE import_id = $id", {"id": import_id}).to_pylist()
    return str(rows[0]["report"]) if rows else None


def counts(store: Store) -> dict[str, int]:
    """Rows in each intel table (imports, indicators, matched accounts, reports)."""
    row = store.query(
        "SELECT (SELECT count(*) FROM intel_imports) AS imports, (SELECT count(*) FROM intel_indicators) AS indicators,"
        " (SELECT count(*) FROM partner_indicators) AS matches, (SELECT count(*) FROM hunt_reports) AS reports"
    ).to_pylist()[0]
    return {k: int(v) for k, v in row.items()}
