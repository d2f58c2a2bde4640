"""Indicators from the store: template groups, every account's compact indicators, readable and shared ones."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import polars as pl
import pyarrow as pa

from distillguard.accounts.network import subnet_of
from distillguard.campaigns.indicators import ACTIVITY_BUCKET_MINUTES, Indicators, compact_indicators
from distillguard.campaigns.settings import TemplateSettings, load_campaign_settings
from distillguard.campaigns.templates import group_templates, named_groups
from distillguard.store import linking
from distillguard.store.source import SqlSource

_BUCKET_S = ACTIVITY_BUCKET_MINUTES * 60


def _frame(table: pa.Table) -> pl.DataFrame:
    return cast(pl.DataFrame, pl.from_arrow(table))


def build_template_groups(store: SqlSource, until: datetime | None = None, settings: TemplateSettings | None = None) -> int:
    """Group the template fingerprints of the traffic before ``until`` and keep them in the store; return the groups.

    Hub templates (see :mod:`distillguard.campaigns.templates`) are left out.
    """
    settings = settings or load_campaign_settings().templates
    distinct = linking.template_fingerprints(store, until)
    groups = group_templates(distinct.column("fp").to_numpy(), distinct.column("n").to_numpy(), settings)
    kept = groups.group >= 0
    fp_groups = pa.table({"fp": pa.array(groups.fp[kept], pa.uint64()), "g": pa.array(groups.group[kept], pa.int64())})
    spread = linking.template_spread(store, fp_groups, until)
    names = named_groups(groups, spread.column("g").to_numpy(), spread.column("accounts").to_numpy(),
                         spread.column("population").to_numpy(), settings)
    linking.save_template_groups(store, fp_groups, pa.table({
        "g": pa.array(list(names), pa.int64()), "template": pa.array(list(names.values()), pa.string()),
    }), until)
    return len(names)


def ensure_template_groups(store: SqlSource, until: datetime | None = None, settings: TemplateSettings | None = None) -> None:
    """Build the template groups unless the store's connection holds them for ``until`` and the stored signals.

    One assessment reads the template groups three times (indicators, campaign records, descriptions):
    they are grouped once.
    """
    if not linking.template_groups_current(store, until):
        build_template_groups(store, until, settings)


def load_indicators(store: SqlSource, until: datetime | None = None, templates: TemplateSettings | None = None, *,
                    young_days: float | None = None) -> Indicators:
    """Every account's indicators in the traffic before ``until`` (all of it when None).

    With ``young_days``, each account's youth too (first used within that many days of its creation), which
    linking reads for young cohorts; an analysis takes it from the account fingerprints instead.
    """
    codes = _frame(linking.number_accounts(store, until))
    ensure_template_groups(store, until, templates)
    rows = _frame(linking.indicator_rows(store, until, _BUCKET_S))
    v6 = rows.filter(pl.col("ipv6").is_not_null())
    rows = rows.drop("ipv6")
    if v6.height:
        subnet = _keyed(store, v6.select(pl.lit("subnet").alias("kind"), pl.col("ipv6").alias("ip")).unique().with_columns(
            pl.col("ip").map_elements(subnet_of, return_dtype=pl.String).alias("value")))
        subnets = (  # the address's own kind and key left out: each IPv6 address adds its /48, not itself again
            v6.select("i", "ipv6", "x").join(subnet.select(pl.col("ip").alias("ipv6"), "kind", "h"), on="ipv6")
            .group_by("i", "kind", "h").agg(pl.col("x").sum())
        )
        rows = pl.concat([rows, subnets.select(rows.columns)], how="vertical_relaxed")
    starts = _frame(linking.conversation_starts(store, until))
    young = None if young_days is None else linking.account_youth(store, until, young_days).column("young").to_numpy(
        zero_copy_only=False)
    return Indicators(codes.get_column("account_id"), compact_indicators(rows), starts, young)


def describe_indicators(store: SqlSource, account_ids: list[str], until: datetime | None = None,
                        templates: TemplateSettings | None = None) -> pl.DataFrame:
    """Readable long table ``account_id, kind, value, x, h`` for the given accounts.

    ``h`` is the indicator's key in :func:`load_indicators`' compact table.
    """
    ensure_template_groups(store, until, templates)
    raw = _frame(linking.described_indicators(store, account_ids, until, _BUCKET_S)).with_columns(pl.col("x").cast(pl.Float64))
    ips = raw.filter(pl.col("kind") == "ip")
    subnet = ips.select("value").unique().with_columns(
        pl.col("value").map_elements(subnet_of, return_dtype=pl.String).alias("subnet")
    )
    subnets = (
        ips.join(subnet, on="value").group_by("account_id", "subnet").agg(pl.col("x").sum())
        .select("account_id", pl.lit("subnet").alias("kind"), pl.col("subnet").alias("value"), "x")
    )
    return _keyed(store, pl.concat([raw, subnets]))


def shared_indicators(
    store: SqlSource, members: dict[str, list[str]], until: datetime | None = None, templates: TemplateSettings | None = None,
    top: int = 10,
) -> pl.DataFrame:
    """``campaign_id, kind, value, accounts``: per campaign and kind, the ``top`` indicators most of its
    member accounts show (at least two), aggregated in the store whatever the campaigns' size."""
    table = pa.table({
        "account_id": pa.array([a for accounts in members.values() for a in accounts], pa.string()),
        "campaign_id": pa.array([c for c, accounts in members.items() for _ in accounts], pa.string()),
    })
    ensure_template_groups(store, until, templates)
    v6 = linking.member_ipv6(store, table, until)
    subnets = pa.table({"ip": pa.array(v6, pa.string()), "subnet": pa.array([subnet_of(ip) for ip in v6], pa.string())})
    return _frame(linking.shared_indicators(store, table, subnets, until, top))


def _keyed(store: SqlSource, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (with ``kind`` and ``value``) with their indicator key ``h``, as the store makes it."""
    return _frame(linking.with_indicator_keys(store, rows.to_arrow()))
