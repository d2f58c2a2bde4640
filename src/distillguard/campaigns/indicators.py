"""Per-account infrastructure and metadata indicators, read from the store with SQL.

An indicator is a value an account shows (an address, a client, a template,
a payment fingerprint, a signup burst, an active ten-minute slot, an indicator
a partner reported in the ``partner_indicators`` table), grouped in
*families*: evidence from one family alone (e.g. a shared NAT address) never
links two accounts. A template is the near-identical template group of the
row's template fingerprint (``~`` + hex, :mod:`distillguard.campaigns.templates`),
else its exact ``template_key``.

For linking, indicators are compact (account code, family, kind, 64-bit hash,
share), so that 200,000 accounts and their twelve million indicators fit in a
few hundred megabytes; :func:`describe_indicators` gives the readable values
for the few accounts of a campaign.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import polars as pl
import pyarrow as pa

from distillguard.accounts.network import subnet_of
from distillguard.campaigns.templates import ensure_template_table
from distillguard.store import Store

FAMILIES: tuple[str, ...] = ("network", "client", "template", "payment", "signup", "timing", "partner")
KINDS: dict[str, str] = {
    "ip": "network", "subnet": "network", "signup_ip": "network", "client": "client", "template": "template",
    "payment": "payment", "signup_burst": "signup", "active": "timing", "partner": "partner",
}
"""Indicator kind → its family."""
SIGNUP_BURST_MINUTES = 30
ACTIVITY_BUCKET_MINUTES = 10

_CODES = """
CREATE OR REPLACE TEMP TABLE indicator_accounts AS
SELECT account_id, (row_number() OVER (ORDER BY account_id) - 1)::UINTEGER AS i
FROM (SELECT DISTINCT account_id FROM exchanges WHERE $until IS NULL OR ts < $until)
"""

_TRAFFIC = """
WITH e AS (
    SELECT account_id, ip, coalesce(user_agent, '') || ' | ' || coalesce(tls_ja4, '') AS client
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
    UNION ALL SELECT account_id, 'client', client, count(*) FROM e GROUP BY ALL
    UNION ALL SELECT account_id, 'template', template, count(*) FROM s WHERE template <> '0' GROUP BY ALL
    UNION ALL SELECT account_id, 'active', active, count(*) FROM s GROUP BY ALL
)
SELECT account_id, kind, value, n / total AS x FROM traffic JOIN totals USING (account_id)
"""

_SIGNUP = """
WITH records AS (SELECT * FROM accounts WHERE {only})
SELECT account_id, 'payment' AS kind, payment_fingerprint AS value, 1.0 AS x
FROM records WHERE payment_fingerprint IS NOT NULL
UNION ALL SELECT account_id, 'signup_ip', signup_ip, 1.0 FROM records WHERE signup_ip IS NOT NULL
UNION ALL SELECT account_id, 'signup_burst', {burst}, 1.0 FROM records WHERE created_at IS NOT NULL
UNION ALL SELECT account_id, 'partner', indicator, 1.0 FROM partner_indicators
WHERE {only} AND ($until IS NULL OR reported_at IS NULL OR reported_at < $until)
"""

_BURST = (
    "coalesce(email_domain, '') || '|' || regexp_replace(regexp_replace(lower(coalesce(email_local, '')), "
    "'[0-9]+', '9', 'g'), '[a-z]+', 'a', 'g') || '|' || "
    f"CAST(time_bucket(INTERVAL '{SIGNUP_BURST_MINUTES} minutes', created_at) AS VARCHAR)"
)
"""Signup-burst key: e-mail domain, shape of the local part (letters → a, digits → 9), creation slot."""

_STARTS = """
SELECT c.i, epoch_ms(e.ts) AS t
FROM exchanges e JOIN indicator_accounts c USING (account_id)
WHERE ($until IS NULL OR e.ts < $until) AND e.n_user_turns <= 1 AND e.n_tool_results = 0
"""
"""Conversation starts: requests with one user turn and no tool results."""

_SUBNET_V4 = "regexp_replace(value, '\\.[0-9]+$', '') || '.0/24'"

_COMPACT = """
WITH v AS (({traffic}) UNION ALL ({signup})),
s AS (
    SELECT account_id, 'subnet' AS kind, {subnet} AS value, sum(x) AS x
    FROM v WHERE kind = 'ip' AND value NOT LIKE '%:%' GROUP BY ALL
)
SELECT c.i, v.kind, CASE WHEN v.kind = 'ip' AND v.value LIKE '%:%' THEN v.value END AS ipv6,
       hash(v.kind || ':' || v.value) AS h, v.x::FLOAT AS x
FROM (SELECT * FROM v UNION ALL SELECT * FROM s) v JOIN indicator_accounts c USING (account_id)
"""


@dataclass(frozen=True)
class Indicators:
    """Compact indicators: ``table`` (``i, family, kind, h, x``) over the accounts ``accounts[i]``.

    ``starts`` holds the accounts' conversation starts (``i, t``: account code,
    epoch milliseconds), the requests that open a conversation.
    """

    accounts: pl.Series
    table: pl.DataFrame
    starts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"i": pl.UInt32, "t": pl.Int64}))

    @property
    def height(self) -> int:
        """Number of (account, indicator) rows."""
        return self.table.height


def load_indicators(store: Store, until: datetime | None = None) -> Indicators:
    """Every account's indicators in the traffic before ``until`` (all of it when None)."""
    store.con.execute(_CODES, {"until": until})
    ensure_template_table(store, until)
    codes = cast(pl.DataFrame, pl.from_arrow(store.query("SELECT account_id, i FROM indicator_accounts ORDER BY i")))
    seen = "account_id IN (SELECT account_id FROM indicator_accounts)"
    sql = _COMPACT.format(
        traffic=_TRAFFIC.format(only="TRUE"), signup=_SIGNUP.format(only=seen, burst=_BURST),
        subnet=_SUBNET_V4,
    )
    rows = cast(pl.DataFrame, pl.from_arrow(store.query(sql, {"until": until, "bucket": ACTIVITY_BUCKET_MINUTES * 60})))
    v6 = rows.filter(pl.col("ipv6").is_not_null())
    rows = rows.drop("ipv6")
    if v6.height:
        subnet = _keyed(store, v6.select(pl.lit("subnet").alias("kind"), pl.col("ipv6").alias("ip")).unique().with_columns(
            pl.col("ip").map_elements(subnet_of, return_dtype=pl.String).alias("value")))
        subnets = (
            v6.join(subnet.select(pl.col("ip").alias("ipv6"), "kind", "h"), on="ipv6")
            .group_by("i", "kind", "h").agg(pl.col("x").sum())
        )
        rows = pl.concat([rows, subnets.select(rows.columns)], how="vertical_relaxed")
    starts = cast(pl.DataFrame, pl.from_arrow(store.query(_STARTS, {"until": until})))
    return Indicators(codes.get_column("account_id"), _compact(rows), starts)


def describe_indicators(store: Store, account_ids: list[str], until: datetime | None = None) -> pl.DataFrame:
    """Readable long table ``account_id, kind, value, x, h`` for the given accounts.

    ``h`` is the indicator's key in :func:`load_indicators`' compact table.
    """
    only = "account_id IN (SELECT account_id FROM _dg_described_accounts)"
    traffic = _TRAFFIC.format(only=only)
    sql = f"({traffic}) UNION ALL ({_SIGNUP.format(only=only, burst=_BURST)})"
    ensure_template_table(store, until)
    store.con.register("_dg_described_accounts", pa.table({"account_id": pa.array(account_ids, pa.string())}))
    try:
        raw = cast(pl.DataFrame, pl.from_arrow(store.query(
            sql, {"until": until, "bucket": ACTIVITY_BUCKET_MINUTES * 60}
        ))).with_columns(pl.col("x").cast(pl.Float64))
    finally:
        store.con.unregister("_dg_described_accounts")
    ips = raw.filter(pl.col("kind") == "ip")
    subnet = ips.select("value").unique().with_columns(
        pl.col("value").map_elements(subnet_of, return_dtype=pl.String).alias("subnet")
    )
    subnets = (
        ips.join(subnet, on="value").group_by("account_id", "subnet").agg(pl.col("x").sum())
        .select("account_id", pl.lit("subnet").alias("kind"), pl.col("subnet").alias("value"), "x")
    )
    return _keyed(store, pl.concat([raw, subnets]))


_SHARED = """
WITH m AS (SELECT account_id, campaign_id FROM _dg_campaign_members),
e AS (
    SELECT DISTINCT account_id, ip, coalesce(user_agent, '') || ' | ' || coalesce(tls_ja4, '') AS client
    FROM exchanges WHERE ($until IS NULL OR ts < $until) AND account_id IN (SELECT account_id FROM m)
),
t AS (
    SELECT DISTINCT account_id, coalesce(g.template, CAST(template_key AS VARCHAR)) AS template
    FROM signals LEFT JOIN template_groups g ON g.fp = template_fp
    WHERE ($until IS NULL OR ts < $until) AND account_id IN (SELECT account_id FROM m) AND template_key <> 0
),
r AS (SELECT a.* FROM accounts a WHERE a.account_id IN (SELECT account_id FROM m)),
shown AS (
    SELECT account_id, 'ip' AS kind, ip AS value FROM e
    UNION SELECT e.account_id, 'subnet', coalesce(v6.subnet, {subnet}) FROM e LEFT JOIN _dg_v6_subnets v6 USING (ip)
    UNION SELECT account_id, 'client', client FROM e
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


def shared_indicators(
    store: Store, members: dict[str, list[str]], until: datetime | None = None, top: int = 10
) -> pl.DataFrame:
    """``campaign_id, kind, value, accounts``: per campaign and kind, the ``top`` indicators most of its
    member accounts show (at least two), aggregated in the store whatever the campaigns' size."""
    table = pa.table({
        "account_id": pa.array([a for accounts in members.values() for a in accounts], pa.string()),
        "campaign_id": pa.array([c for c, accounts in members.items() for _ in accounts], pa.string()),
    })
    ensure_template_table(store, until)
    store.con.register("_dg_campaign_members", table)
    try:
        v6 = store.query(
            "SELECT DISTINCT ip FROM exchanges WHERE ip LIKE '%:%' AND ($until IS NULL OR ts < $until) "
            "AND account_id IN (SELECT account_id FROM _dg_campaign_members)", {"until": until},
        ).column("ip").to_pylist()
        store.con.register("_dg_v6_subnets", pa.table({
            "ip": pa.array(v6, pa.string()), "subnet": pa.array([subnet_of(ip) for ip in v6], pa.string()),
        }))
        try:
            sql = _SHARED.format(subnet=_SUBNET_V4.replace("value", "ip"), burst=_BURST)
            return cast(pl.DataFrame, pl.from_arrow(store.query(sql, {"until": until, "top": top})))
        finally:
            store.con.unregister("_dg_v6_subnets")
    finally:
        store.con.unregister("_dg_campaign_members")


def _keyed(store: Store, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (with ``kind`` and ``value``) with their indicator key ``h``, as the store's SQL makes it."""
    store.con.register("_dg_keyed", rows.to_arrow())
    try:
        return cast(pl.DataFrame, pl.from_arrow(
            store.query("SELECT *, hash(kind || ':' || value) AS h FROM _dg_keyed")))
    finally:
        store.con.unregister("_dg_keyed")


def _compact(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        pl.col("i").cast(pl.UInt32),
        pl.col("kind").replace_strict(KINDS, return_dtype=pl.Enum(list(FAMILIES))).alias("family"),
        pl.col("kind").cast(pl.Enum(list(KINDS))),
        pl.col("h").cast(pl.UInt64),
        pl.col("x").cast(pl.Float32),
    )
