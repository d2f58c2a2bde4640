"""Per-account infrastructure and metadata indicators, read from the store with SQL.

An indicator is a value an account shows (an address, a client, a template,
a payment fingerprint, a signup burst), grouped in *families*: evidence from
one family alone (e.g. a shared NAT address) never links two accounts.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import cast

import polars as pl

from distillguard.accounts.network import subnet_of
from distillguard.store import Store

FAMILIES: tuple[str, ...] = ("network", "client", "template", "payment", "signup")
SIGNUP_BURST_MINUTES = 30

_TRAFFIC_SQL = """
WITH t AS (
    SELECT e.account_id, e.ip, coalesce(e.user_agent, '') || ' | ' || coalesce(e.tls_ja4, '') AS client,
           s.template_key
    FROM exchanges e JOIN signals s USING (rid)
    WHERE $until IS NULL OR e.ts < $until
)
SELECT account_id, 'ip' AS kind, ip AS value, count(*) AS n FROM t GROUP BY ALL
UNION ALL
SELECT account_id, 'client', client, count(*) FROM t GROUP BY ALL
UNION ALL
SELECT account_id, 'template', CAST(template_key AS VARCHAR), count(*) FROM t
WHERE template_key IS NOT NULL AND template_key <> 0 GROUP BY ALL
"""

_ACCOUNT_SQL = """
SELECT account_id, payment_fingerprint, signup_ip, email_domain, email_local, created_at
FROM accounts
"""


def _shape(local: str | None) -> str:
    """The shape of an e-mail local part: letters → a, digits → 9, runs collapsed."""
    if not local:
        return ""
    return re.sub(r"[a-z]+", "a", re.sub(r"[0-9]+", "9", local.lower()))


def load_indicators(store: Store, until: datetime | None = None) -> pl.DataFrame:
    """Long table ``account_id, family, indicator, x`` (x = the account's share of traffic, or 1)."""
    traffic = cast(pl.DataFrame, pl.from_arrow(store.query(_TRAFFIC_SQL, {"until": until})))
    totals = traffic.filter(pl.col("kind") == "ip").group_by("account_id").agg(pl.col("n").sum().alias("total"))
    traffic = traffic.join(totals, on="account_id").with_columns((pl.col("n") / pl.col("total")).alias("x"))
    ips = traffic.filter(pl.col("kind") == "ip")
    subnets = ips.with_columns(
        pl.col("value").map_elements(subnet_of, return_dtype=pl.String).alias("value"),
        pl.lit("subnet").alias("kind"),
    ).group_by("account_id", "kind", "value").agg(pl.col("x").sum())
    rows = [
        ips.select("account_id", "kind", "value", "x"),
        subnets.select("account_id", "kind", "value", "x"),
        traffic.filter(pl.col("kind") != "ip").select("account_id", "kind", "value", "x"),
    ]
    accounts = cast(pl.DataFrame, pl.from_arrow(store.query(_ACCOUNT_SQL)))
    if until is not None and accounts.height:
        seen = totals.select("account_id")
        accounts = accounts.join(seen, on="account_id", how="semi")
    if accounts.height:
        one = pl.lit(1.0).alias("x")
        rows.append(accounts.filter(pl.col("payment_fingerprint").is_not_null()).select(
            "account_id", pl.lit("payment").alias("kind"), pl.col("payment_fingerprint").alias("value"), one))
        rows.append(accounts.filter(pl.col("signup_ip").is_not_null()).select(
            "account_id", pl.lit("signup_ip").alias("kind"), pl.col("signup_ip").alias("value"), one))
        burst = accounts.filter(pl.col("created_at").is_not_null()).with_columns(
            pl.col("email_local").map_elements(_shape, return_dtype=pl.String).fill_null("").alias("shape"),
            pl.col("created_at").dt.truncate(f"{SIGNUP_BURST_MINUTES}m").cast(pl.String).alias("bucket"),
        )
        rows.append(burst.select(
            "account_id", pl.lit("signup_burst").alias("kind"),
            pl.concat_str([pl.col("email_domain").fill_null(""), pl.col("shape"), pl.col("bucket")], separator="|")
            .alias("value"), one))
    long = pl.concat([r.with_columns(pl.col("x").cast(pl.Float64)) for r in rows])
    family = (
        pl.when(pl.col("kind").is_in(["ip", "subnet", "signup_ip"])).then(pl.lit("network"))
        .when(pl.col("kind") == "client").then(pl.lit("client"))
        .when(pl.col("kind") == "template").then(pl.lit("template"))
        .when(pl.col("kind") == "payment").then(pl.lit("payment"))
        .otherwise(pl.lit("signup"))
    )
    return long.select(
        "account_id",
        family.alias("family"),
        pl.concat_str([pl.col("kind"), pl.col("value")], separator=":").alias("indicator"),
        "x",
    )
