"""The queries behind account linking: indicators, template groups, shared indicators.

Indicators are grouped in families by :mod:`distillguard.campaigns.indicators`;
this module only reads them. Within one connection, two temporary tables
carry state between the queries of one assessment: the account numbering
(:func:`number_accounts`) and the template groups
(:func:`save_template_groups`), which the indicator queries join.

Asked for all the traffic (``until`` None) of a DuckDB store whose kept per-day aggregates hold every
stored exchange (:mod:`distillguard.store.traffic_days`), the queries read those instead of the
exchanges and signals, with the same results; otherwise (a replay's interval, Spark) the exchanges.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from distillguard.core.email import LOCAL_SHAPE_RULES
from distillguard.core.signup_burst import SIGNUP_BURST_MINUTES
from distillguard.store.source import SqlSource
from distillguard.store.traffic_days import kept_slot

_CODES = """
CREATE OR REPLACE TEMP TABLE indicator_accounts AS
SELECT account_id, (row_number() OVER (ORDER BY account_id) - 1)::UINTEGER AS i
FROM (SELECT DISTINCT account_id FROM exchanges WHERE $until IS NULL OR ts < $until)
"""

_PARAMS = (
    "model || ' | ' || api_format || ' | ' || endpoint || ' | ' || coalesce(CAST(thinking_budget AS VARCHAR), '') "
    "|| ' | ' || coalesce(reasoning_effort, '')"
)
"""Request-parameter key: model, API format, endpoint, thinking budget, reasoning effort."""

_TRAFFIC = """
WITH e AS (
    SELECT account_id, ip, coalesce(user_agent, '') || ' | ' || coalesce(tls_ja4, '') AS client,
           """ + _PARAMS + """ AS params
    FROM exchanges WHERE ($until IS NULL OR ts < $until) AND {only}
),
s AS (
    SELECT account_id, coalesce(g.template, CAST(template_key AS VARCHAR)) AS template,
           CAST(epoch(ts)::BIGINT // $bucket AS VARCHAR) AS active
    FROM signals LEFT JOIN template_groups g ON g.fp = template_fp
    WHERE ($until IS NULL OR ts < $until) AND {only}
),
totals AS (SELECT account_id, count(*)::DOUBLE AS total FROM e GROUP BY ALL),
traffic AS (
    SELECT account_id, 'ip' AS kind, ip AS value, count(*) AS n FROM e GROUP BY ALL
    UNION ALL SELECT account_id, 'client', client, count(*) FROM e WHERE client <> ' | ' GROUP BY ALL
    UNION ALL SELECT account_id, 'template', template, count(*) FROM s WHERE template <> '0' GROUP BY ALL
    UNION ALL SELECT account_id, 'active', active, count(*) FROM s GROUP BY ALL
    UNION ALL SELECT account_id, 'params', params, count(*) FROM e GROUP BY ALL
)
SELECT account_id, kind, value, n / total AS x FROM traffic JOIN totals USING (account_id)
"""

_KEPT_TRAFFIC = """
WITH totals AS (SELECT account_id, sum(n)::DOUBLE AS total FROM day_requests WHERE {only} GROUP BY ALL),
traffic AS (
    SELECT account_id, 'ip' AS kind, ip AS value, sum(n) AS n FROM day_addresses WHERE {only} GROUP BY ALL
    UNION ALL SELECT account_id, 'client', client, sum(n) FROM (
        SELECT account_id, coalesce(user_agent, '') || ' | ' || coalesce(tls_ja4, '') AS client, n
        FROM day_clients WHERE {only}
    ) WHERE client <> ' | ' GROUP BY ALL
    UNION ALL SELECT account_id, 'template', template, sum(n) FROM (
        SELECT account_id, coalesce(g.template, CAST(template_key AS VARCHAR)) AS template, n
        FROM day_templates LEFT JOIN template_groups g ON g.fp = template_fp WHERE {only}
    ) WHERE template <> '0' GROUP BY ALL
    UNION ALL SELECT account_id, 'active', CAST(slot AS VARCHAR), sum(n) FROM day_slots WHERE {only} GROUP BY ALL
    UNION ALL SELECT account_id, 'params', """ + _PARAMS + """, sum(n) FROM day_requests WHERE {only} GROUP BY ALL
)
SELECT account_id, kind, value, n / total AS x FROM traffic JOIN totals USING (account_id)
"""
""":data:`_TRAFFIC` over the kept per-day aggregates (:mod:`distillguard.store.traffic_days`): the same rows."""

_SIGNUP = """
WITH records AS (SELECT * FROM accounts WHERE {only})
SELECT account_id, 'payment' AS kind, payment_fingerprint AS value, 1.0 AS x
FROM records WHERE payment_fingerprint IS NOT NULL
UNION ALL SELECT account_id, 'signup_ip', signup_ip, 1.0 FROM records WHERE signup_ip IS NOT NULL
UNION ALL SELECT account_id, 'signup_burst', {burst}, 1.0 FROM records WHERE created_at IS NOT NULL
UNION ALL SELECT DISTINCT account_id, 'partner', indicator, 1.0 FROM partner_indicators
WHERE {only} AND ($until IS NULL OR reported_at IS NULL OR reported_at < $until)
"""


def _local_shape_sql(column: str) -> str:
    """:func:`distillguard.core.email.local_shape` of ``column``, in SQL."""
    sql = f"lower(coalesce({column}, ''))"
    for pattern, replacement in LOCAL_SHAPE_RULES:
        sql = f"regexp_replace({sql}, '{pattern}', '{replacement}', 'g')"
    return sql


_BURST = (
    f"coalesce(email_domain, '') || '|' || {_local_shape_sql('email_local')} || '|' || "
    f"CAST(time_bucket(INTERVAL '{SIGNUP_BURST_MINUTES} minutes', created_at) AS VARCHAR)"
)
"""Signup-burst key: e-mail domain, shape of the local part (letters → a, digits → 9), creation slot."""

_STARTS = """
SELECT c.i, epoch_ms(e.ts) AS t
FROM exchanges e JOIN indicator_accounts c USING (account_id)
WHERE ($until IS NULL OR e.ts < $until) AND e.n_user_turns <= 1 AND e.n_tool_results = 0
"""

_SUBNET_V4 = "regexp_replace(value, '\\.[0-9]+$', '') || '.0/24'"

_COMPACT = """
WITH v AS (({traffic}) UNION ALL ({signup})),
s AS (
    SELECT account_id, 'subnet' AS kind, {subnet} AS value, sum(x) AS x
    FROM v WHERE kind = 'ip' AND value NOT LIKE '%:%' GROUP BY ALL
)
SELECT c.i, v.kind, CASE WHEN v.kind = 'ip' AND v.value LIKE '%:%' THEN v.value END AS ipv6,
       key64(v.kind || ':' || v.value) AS h, v.x::FLOAT AS x
FROM (SELECT * FROM v UNION ALL SELECT * FROM s) v JOIN indicator_accounts c USING (account_id)
"""

_MEMBER_TRAFFIC = """
e AS (
    SELECT DISTINCT account_id, ip, coalesce(user_agent, '') || ' | ' || coalesce(tls_ja4, '') AS client,
           """ + _PARAMS + """ AS params
    FROM exchanges WHERE ($until IS NULL OR ts < $until) AND account_id IN (SELECT account_id FROM m)
),
a AS (SELECT DISTINCT account_id, ip FROM e),
c AS (SELECT DISTINCT account_id, client FROM e),
p AS (SELECT DISTINCT account_id, params FROM e),
t AS (
    SELECT DISTINCT account_id, coalesce(g.template, CAST(template_key AS VARCHAR)) AS template
    FROM signals LEFT JOIN template_groups g ON g.fp = template_fp
    WHERE ($until IS NULL OR ts < $until) AND account_id IN (SELECT account_id FROM m) AND template_key <> 0
)"""
"""The members' distinct addresses ``a``, clients ``c``, request shapes ``p`` and templates ``t``."""

_KEPT_MEMBER_TRAFFIC = """
a AS (SELECT DISTINCT account_id, ip FROM day_addresses WHERE account_id IN (SELECT account_id FROM m)),
c AS (
    SELECT DISTINCT account_id, coalesce(user_agent, '') || ' | ' || coalesce(tls_ja4, '') AS client
    FROM day_clients WHERE account_id IN (SELECT account_id FROM m)
),
p AS (SELECT DISTINCT account_id, """ + _PARAMS + """ AS params FROM day_requests WHERE account_id IN (SELECT account_id FROM m)),
t AS (
    SELECT DISTINCT account_id, coalesce(g.template, CAST(template_key AS VARCHAR)) AS template
    FROM day_templates LEFT JOIN template_groups g ON g.fp = template_fp
    WHERE account_id IN (SELECT account_id FROM m) AND template_key <> 0
)"""
""":data:`_MEMBER_TRAFFIC` from the kept per-day aggregates."""

_SHARED = """
WITH m AS (SELECT account_id, campaign_id FROM _dg_campaign_members),
{traffic},
r AS (SELECT a.* FROM accounts a WHERE a.account_id IN (SELECT account_id FROM m)),
shown AS (
    SELECT account_id, 'ip' AS kind, ip AS value FROM a
    UNION SELECT a.account_id, 'subnet', coalesce(v6.subnet, {subnet}) FROM a LEFT JOIN _dg_v6_subnets v6 USING (ip)
    UNION SELECT account_id, 'client', client FROM c WHERE client <> ' | '
    UNION SELECT account_id, 'params', params FROM p
    UNION SELECT account_id, 'template', template FROM t
    UNION SELECT account_id, 'payment', payment_fingerprint FROM r WHERE payment_fingerprint IS NOT NULL
    UNION SELECT account_id, 'signup_ip', signup_ip FROM r WHERE signup_ip IS NOT NULL
    UNION SELECT account_id, 'signup_burst', {burst} FROM r WHERE created_at IS NOT NULL
)
SELECT m.campaign_id, shown.kind, shown.value, count(*) AS accounts
FROM shown JOIN m USING (account_id)
GROUP BY m.campaign_id, shown.kind, shown.value HAVING count(*) >= 2
QUALIFY row_number() OVER (PARTITION BY m.campaign_id, shown.kind ORDER BY count(*) DESC, shown.value) <= $top
"""

_MEMBER_V6 = """
SELECT DISTINCT ip FROM exchanges WHERE ip LIKE '%:%' AND ($until IS NULL OR ts < $until)
AND account_id IN (SELECT account_id FROM _dg_campaign_members)
"""

_KEPT_MEMBER_V6 = """
SELECT DISTINCT ip FROM day_addresses WHERE ip LIKE '%:%' AND account_id IN (SELECT account_id FROM _dg_campaign_members)
"""

_TEMPLATE_FPS = """
SELECT template_fp AS fp, count(*) AS n FROM signals
WHERE ($until IS NULL OR ts < $until) AND template_fp IS NOT NULL GROUP BY ALL
"""

_TEMPLATE_SPREAD = """
SELECT g.g, count(DISTINCT s.account_id) AS accounts,
       (SELECT count(DISTINCT account_id) FROM signals WHERE $until IS NULL OR ts < $until) AS population
FROM signals s JOIN _dg_template_groups g ON s.template_fp = g.fp
WHERE $until IS NULL OR s.ts < $until GROUP BY ALL
"""

_KEPT_TEMPLATE_FPS = """
SELECT template_fp AS fp, sum(n)::BIGINT AS n FROM day_templates WHERE template_fp IS NOT NULL GROUP BY ALL
"""

_KEPT_TEMPLATE_SPREAD = """
SELECT g.g, count(DISTINCT s.account_id) AS accounts, (SELECT count(DISTINCT account_id) FROM day_templates) AS population
FROM day_templates s JOIN _dg_template_groups g ON s.template_fp = g.fp GROUP BY ALL
"""

_KEPT_CODES = """
CREATE OR REPLACE TEMP TABLE indicator_accounts AS
SELECT account_id, (row_number() OVER (ORDER BY account_id) - 1)::UINTEGER AS i
FROM (SELECT DISTINCT account_id FROM day_requests)
"""

TEMPLATE_TABLE = "template_groups"
"""The temporary table of template groups: ``fp`` → ``template`` (``~`` + centroid hex)."""
_BUILT = "template_groups_built"


def number_accounts(store: SqlSource, until: datetime | None) -> pa.Table:
    """Number the accounts seen before ``until`` (``account_id, i``, ordered by ``i``) for the indicator queries."""
    if _kept(store, until):
        store.con.execute(_KEPT_CODES)
    else:
        store.con.execute(_CODES, {"until": until})
    return store.query("SELECT account_id, i FROM indicator_accounts ORDER BY i")


_YOUTH = """
SELECT c.i, coalesce(epoch_us(f.first) - epoch_us(r.created_at) <= $span_us, FALSE) AS young
FROM indicator_accounts c
LEFT JOIN (SELECT account_id, min(ts) AS first FROM exchanges WHERE $until IS NULL OR ts < $until GROUP BY ALL) f
    USING (account_id)
LEFT JOIN accounts r USING (account_id)
ORDER BY c.i
"""


def account_youth(store: SqlSource, until: datetime | None, days: float) -> pa.Table:
    """``i, young``: whether each numbered account (:func:`number_accounts`) was first used before ``until`` within
    ``days`` of its creation (False where its creation time is unknown)."""
    return store.query(_YOUTH, {"until": until, "span_us": round(days * 86_400e6)})


def indicator_rows(store: SqlSource, until: datetime | None, bucket_s: int) -> pa.Table:
    """Every numbered account's indicators: ``i, kind, ipv6, h, x``.

    ``h`` hashes ``kind:value``; ``x`` is the account's share of exchanges showing it (1 for account
    records); IPv4 /24 subnets are included, IPv6 addresses come with ``ipv6`` set for the caller to
    add their subnets. Needs :func:`number_accounts` and the template groups of the same ``until``.
    """
    seen = "account_id IN (SELECT account_id FROM indicator_accounts)"
    kept = _kept(store, until, bucket_s)
    sql = _COMPACT.format(traffic=(_KEPT_TRAFFIC if kept else _TRAFFIC).format(only="TRUE"),
                          signup=_SIGNUP.format(only=seen, burst=_BURST), subnet=_SUBNET_V4)
    return store.query(sql, {"until": until} if kept else {"until": until, "bucket": bucket_s})


def conversation_starts(store: SqlSource, until: datetime | None) -> pa.Table:
    """``i, t``: numbered account and epoch milliseconds of each request with one user turn and no tool results."""
    return store.query(_STARTS, {"until": until})


def described_indicators(store: SqlSource, account_ids: list[str], until: datetime | None, bucket_s: int) -> pa.Table:
    """Readable ``account_id, kind, value, x`` of the given accounts (IPv4 and IPv6 subnets not included)."""
    only = "account_id IN (SELECT account_id FROM _dg_described_accounts)"
    kept = _kept(store, until, bucket_s)
    traffic = (_KEPT_TRAFFIC if kept else _TRAFFIC).format(only=only)
    sql = f"({traffic}) UNION ALL ({_SIGNUP.format(only=only, burst=_BURST)})"
    with store.registered(_dg_described_accounts=pa.table({"account_id": pa.array(account_ids, pa.string())})):
        return store.query(sql, {"until": until} if kept else {"until": until, "bucket": bucket_s})


def with_indicator_keys(store: SqlSource, rows: pa.Table) -> pa.Table:
    """``rows`` (with ``kind`` and ``value``) and their key ``h``, hashed as :func:`indicator_rows` does."""
    with store.registered(_dg_keyed=rows):
        return store.query("SELECT *, key64(kind || ':' || value) AS h FROM _dg_keyed")


def member_ipv6(store: SqlSource, members: pa.Table, until: datetime | None) -> list[str]:
    """Distinct IPv6 addresses the member accounts (``account_id, campaign_id``) used before ``until``."""
    kept = _kept(store, until)
    with store.registered(_dg_campaign_members=members):
        found = store.query(_KEPT_MEMBER_V6) if kept else store.query(_MEMBER_V6, {"until": until})
    return [str(ip) for ip in found.column("ip").to_pylist()]


def shared_indicators(store: SqlSource, members: pa.Table, v6_subnets: pa.Table, until: datetime | None, top: int) -> pa.Table:
    """``campaign_id, kind, value, accounts``: per campaign and kind the ``top`` indicators shown by most members.

    ``members``: ``account_id, campaign_id``; ``v6_subnets``: ``ip, subnet`` for the members' IPv6 addresses.
    """
    kept = _kept(store, until)
    sql = _SHARED.format(traffic=_KEPT_MEMBER_TRAFFIC if kept else _MEMBER_TRAFFIC,
                         subnet=_SUBNET_V4.replace("value", "ip"), burst=_BURST)
    with store.registered(_dg_campaign_members=members, _dg_v6_subnets=v6_subnets):
        return store.query(sql, {"top": top} if kept else {"until": until, "top": top})


def template_fingerprints(store: SqlSource, until: datetime | None) -> pa.Table:
    """``fp, n``: each distinct template fingerprint before ``until`` and its row count."""
    return store.query(_KEPT_TEMPLATE_FPS) if _kept(store, until) else store.query(_TEMPLATE_FPS, {"until": until})


def template_spread(store: SqlSource, groups: pa.Table, until: datetime | None) -> pa.Table:
    """``g, accounts, population``: accounts showing each group of ``groups`` (``fp, g``), and all accounts."""
    kept = _kept(store, until)
    with store.registered(_dg_template_groups=groups):
        return store.query(_KEPT_TEMPLATE_SPREAD) if kept else store.query(_TEMPLATE_SPREAD, {"until": until})


def save_template_groups(store: SqlSource, groups: pa.Table, names: pa.Table, until: datetime | None) -> None:
    """Keep the fingerprints of ``groups`` (``fp, g``) that ``names`` (``g, template``) names as this connection's
    template table (``fp, template``), built for ``until``."""
    with store.registered(_dg_template_groups=groups, _dg_template_names=names):
        store.con.execute(f"CREATE OR REPLACE TEMP TABLE {TEMPLATE_TABLE} AS SELECT fp, template "
                          "FROM _dg_template_groups JOIN _dg_template_names USING (g)")
    store.con.execute(f"CREATE OR REPLACE TEMP TABLE {_BUILT} AS SELECT $until::TIMESTAMPTZ AS until, $n::BIGINT AS n",
                      {"until": until, "n": _signal_rows(store)})


def template_groups_current(store: SqlSource, until: datetime | None) -> bool:
    """Whether this connection holds template groups built for ``until`` over the signals stored now."""
    built = store.query(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = $name", {"name": _BUILT}
    ).column(0)[0].as_py()
    return bool(built) and bool(store.query(
        f"SELECT bool_and(until IS NOT DISTINCT FROM $until AND n = $n) FROM {_BUILT}",
        {"until": until, "n": _signal_rows(store)},
    ).column(0)[0].as_py())


def _kept(store: SqlSource, until: datetime | None, bucket_s: int | None = None) -> bool:
    """Whether to read the kept per-day aggregates (all the traffic is asked for, and they hold all of it)
    rather than the stored exchanges; with ``bucket_s``, their activity slots must be of that length."""
    if until is not None:
        return False
    slot = kept_slot(store)
    return slot is not None and bucket_s in (None, slot)


def _signal_rows(store: SqlSource) -> int:
    return int(store.query("SELECT count(*) FROM signals").column(0)[0].as_py())
