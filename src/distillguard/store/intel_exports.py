"""What an intel export reads (campaign members' observables) and writes (its audit entry, object versions).

The intel layer keys or drops every personal value before anything leaves; this module only reads
and records. Each exported object's content digest is kept per community, so that a re-export keeps
an object's ``modified`` time unless its content changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import duckdb
import pyarrow as pa

from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store, rollback

_OBSERVABLES = """
WITH m AS (SELECT DISTINCT campaign_id, account_id FROM _dg_export_members),
e AS (
    SELECT m.campaign_id, x.account_id, x.ts, x.ip, coalesce(x.tls_ja4, '') AS ja4, coalesce(x.user_agent, '') AS ua
    FROM exchanges x JOIN m USING (account_id)
),
act AS (SELECT campaign_id, account_id, count(*) AS n, min(ts) AS first, max(ts) AS last FROM e GROUP BY ALL),
a AS (
    SELECT m.campaign_id, r.account_id, r.email_local, lower(trim(r.email_domain)) AS domain, r.payment_fingerprint,
           r.signup_ip, r.created_at, coalesce(act.n, 0) AS n, coalesce(act.first, r.created_at) AS first,
           coalesce(act.last, r.created_at) AS last
    FROM accounts r JOIN m USING (account_id) LEFT JOIN act USING (campaign_id, account_id)
),
t AS (
    SELECT m.campaign_id, s.account_id, s.ts, CAST(s.template_key AS VARCHAR) AS template
    FROM signals s JOIN m USING (account_id) WHERE s.template_key IS NOT NULL AND s.template_key <> 0
),
obs AS (
    SELECT campaign_id, 'ip' AS kind, ip AS value, '' AS detail, count(DISTINCT account_id) AS accounts,
           count(*) AS exchanges, min(ts) AS first_seen, max(ts) AS last_seen FROM e GROUP BY ALL
    UNION ALL SELECT campaign_id, 'client', ja4, ua, count(DISTINCT account_id), count(*), min(ts), max(ts)
        FROM e WHERE ja4 <> '' OR ua <> '' GROUP BY ALL
    UNION ALL SELECT campaign_id, 'template', template, '', count(DISTINCT account_id), count(*), min(ts), max(ts)
        FROM t GROUP BY ALL
    UNION ALL SELECT campaign_id, 'account', account_id, '', 1, n, first, last FROM act
    UNION ALL SELECT campaign_id, 'email', email_local || '@' || domain, '', count(*), sum(n), min(first), max(last)
        FROM a WHERE email_local IS NOT NULL AND email_local <> '' AND domain IS NOT NULL AND domain <> '' GROUP BY ALL
    UNION ALL SELECT campaign_id, 'email_domain', domain, '', count(*), sum(n), min(first), max(last)
        FROM a WHERE domain IS NOT NULL AND domain <> '' GROUP BY ALL
    UNION ALL SELECT campaign_id, 'payment', payment_fingerprint, '', count(*), sum(n), min(first), max(last)
        FROM a WHERE payment_fingerprint IS NOT NULL AND payment_fingerprint <> '' GROUP BY ALL
    UNION ALL SELECT campaign_id, 'signup_ip', signup_ip, '', count(*), count(*), min(created_at), max(created_at)
        FROM a WHERE signup_ip IS NOT NULL AND signup_ip <> '' AND created_at IS NOT NULL GROUP BY ALL
),
pop AS (
    SELECT 'ip' AS kind, ip AS value, '' AS detail, count(DISTINCT account_id) AS population FROM exchanges
        WHERE ip IN (SELECT value FROM obs WHERE kind = 'ip') GROUP BY ALL
    UNION ALL SELECT 'client', coalesce(tls_ja4, ''), coalesce(user_agent, ''), count(DISTINCT account_id)
        FROM exchanges WHERE coalesce(tls_ja4, '') IN (SELECT value FROM obs WHERE kind = 'client') GROUP BY ALL
    UNION ALL SELECT 'template', CAST(template_key AS VARCHAR), '', count(DISTINCT account_id) FROM signals
        WHERE CAST(template_key AS VARCHAR) IN (SELECT value FROM obs WHERE kind = 'template') GROUP BY ALL
    UNION ALL SELECT 'email_domain', lower(trim(email_domain)), '', count(*) FROM accounts
        WHERE lower(trim(email_domain)) IN (SELECT value FROM obs WHERE kind = 'email_domain') GROUP BY ALL
    UNION ALL SELECT 'payment', payment_fingerprint, '', count(*) FROM accounts
        WHERE payment_fingerprint IN (SELECT value FROM obs WHERE kind = 'payment') GROUP BY ALL
    UNION ALL SELECT 'signup_ip', signup_ip, '', count(*) FROM accounts
        WHERE signup_ip IN (SELECT value FROM obs WHERE kind = 'signup_ip') GROUP BY ALL
)
SELECT obs.campaign_id, obs.kind, obs.value, obs.detail, obs.accounts::BIGINT AS accounts,
       obs.exchanges::BIGINT AS exchanges, obs.first_seen, obs.last_seen,
       greatest(coalesce(pop.population, 0), obs.accounts)::BIGINT AS population
FROM obs LEFT JOIN pop USING (kind, value, detail)
ORDER BY obs.campaign_id, obs.kind, obs.value, obs.detail
"""
OBSERVABLE_KINDS = ("ip", "client", "template", "account", "email", "email_domain", "payment", "signup_ip")
"""The kinds :func:`export_observables` returns (``client``: ``value`` the TLS JA4, ``detail`` the user agent)."""

_VERSIONS = """
SELECT v.object_id, v.digest, v.created, v.modified FROM intel_export_objects v
SEMI JOIN _dg_export_ids i ON i.object_id = v.object_id WHERE v.community = $community
"""
_UPSERT_VERSIONS = """
INSERT OR REPLACE INTO intel_export_objects (community, object_id, digest, created, modified)
SELECT $community, object_id, digest, created, modified FROM _dg_export_versions
"""
_RECORD = """
INSERT INTO intel_exports (export_id, exported_at, actor, community, tlp, format, run_id, campaigns, n_objects, out_file)
VALUES ($export_id, $exported_at, $actor, $community, $tlp, $format, $run_id, $campaigns, $n_objects, $out_file)
"""
_LOG = "SELECT * FROM intel_exports ORDER BY exported_at, export_id"
_RUN_TIMES = "SELECT run_id, coalesce(finished_at, started_at) AS at FROM runs WHERE run_id IN (SELECT unnest($runs))"
VERSION_SCHEMA = pa.schema([("object_id", pa.string()), ("digest", pa.string()),
                            ("created", pa.timestamp("us", "UTC")), ("modified", pa.timestamp("us", "UTC"))])


def export_observables(store: Store, members: pa.Table) -> pa.Table:
    """What the members (``campaign_id, account_id``) of the exported campaigns showed, per campaign and value:
    ``campaign_id, kind, value, detail, accounts, exchanges, first_seen, last_seen, population``.

    ``population`` counts the accounts of the whole store showing the value (members or not): a value
    ordinary users share (a NAT exit, a popular SDK) says nothing about the operator.

    Kinds: see :data:`OBSERVABLE_KINDS`. Raw values: the caller keys or drops them before they leave.
    """
    with store.registered(_dg_export_members=members):
        return store.query(_OBSERVABLES)


def object_versions(store: Store, community: str, object_ids: list[str]) -> pa.Table:
    """``object_id, digest, created, modified`` of the given objects as last exported to ``community``."""
    ids = pa.table({"object_id": pa.array(object_ids, pa.string())})
    with store.registered(_dg_export_ids=ids):
        return store.query(_VERSIONS, {"community": community})


@contextmanager
def recording_export(store: Store, *, export_id: str, exported_at: datetime, actor: str, community: str, tlp: str,
                     export_format: str, run_id: str, campaigns: list[str], n_objects: int, out_file: str,
                     versions: pa.Table) -> Iterator[None]:
    """Log one export and keep its objects' versions (:data:`VERSION_SCHEMA`) in a transaction around the block
    that writes the file: committed when the block ends without an error, rolled back on any error."""
    with store.registered(_dg_export_versions=versions) as con:
        con.begin()
        try:
            con.execute(_UPSERT_VERSIONS, {"community": community})
            con.execute(_RECORD, {
                "export_id": export_id, "exported_at": exported_at, "actor": actor, "community": community,
                "tlp": tlp, "format": export_format, "run_id": run_id, "campaigns": campaigns,
                "n_objects": n_objects, "out_file": out_file,
            })
            yield
            con.commit()
        except duckdb.Error as exc:
            rollback(con)
            raise StoreError(f"{store.path}: export not recorded: {exc}") from exc
        except BaseException:
            rollback(con)
            raise


def run_times(store: Store, run_ids: list[str]) -> dict[str, datetime]:
    """When each of the given runs finished (started, for a run that never finished)."""
    rows = store.query(_RUN_TIMES, {"runs": run_ids}).to_pylist()
    return {str(r["run_id"]): r["at"] for r in rows}


def export_log(store: Store) -> pa.Table:
    """Every logged export, oldest first."""
    return store.query(_LOG)


__all__ = ["OBSERVABLE_KINDS", "VERSION_SCHEMA", "export_log", "export_observables", "object_versions",
           "recording_export", "run_times"]
