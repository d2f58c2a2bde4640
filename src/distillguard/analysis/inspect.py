"""What an analyst looks at for stored campaigns: lifecycles and intrusion sets across runs."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import polars as pl

from distillguard.accounts.stats import ELICITATION_THRESHOLD
from distillguard.analysis.indicators import describe_indicators, load_indicators
from distillguard.campaigns.indicators import Indicators
from distillguard.campaigns.intrusion import IntrusionSet, group_intrusion_sets, indicator_rows
from distillguard.campaigns.lifecycle import Lifecycle, build_lifecycle
from distillguard.campaigns.settings import IntrusionSettings, LifecycleSettings
from distillguard.store import Store
from distillguard.store.results import campaign_members
from distillguard.store.traffic import campaign_hours, member_signups, model_first_seen


def campaign_lifecycle(store: Store, members: list[str], settings: LifecycleSettings | None = None) -> Lifecycle:
    """The lifecycle of the campaign of ``members``, from their stored traffic and signups."""
    traffic = cast(pl.DataFrame, pl.from_arrow(campaign_hours(store, members, ELICITATION_THRESHOLD)))
    signups = cast(pl.DataFrame, pl.from_arrow(member_signups(store, members)))
    return build_lifecycle(traffic, signups, model_first_seen(store), settings)


def readable_names(store: Store, account_ids: list[str]) -> dict[str, str]:
    """``kind:#hash`` → ``kind:value`` for the indicators of some accounts (keys as in ``load_indicators``)."""
    described = describe_indicators(store, account_ids).select("kind", "value", "h").unique()
    keys = pl.col("kind") + ":#" + pl.col("h").cast(pl.String)
    label = pl.concat_str([pl.col("kind"), pl.col("value")], separator=":")
    return dict(described.select(keys.alias("key"), label.alias("name")).iter_rows())


def find_intrusion_sets(
    store: Store,
    indicators: Indicators | None = None,
    members: pl.DataFrame | None = None,
    settings: IntrusionSettings | None = None,
) -> list[IntrusionSet]:
    """Intrusion sets over the campaigns of every stored run (or of ``members``), with readable evidence.

    The readable values of the shared indicators are read for one account showing each.
    """
    indicators = indicators if indicators is not None else load_indicators(store)
    members = cast(pl.DataFrame, pl.from_arrow(campaign_members(store))) if members is None else members
    rows = indicator_rows(indicators)
    sets = group_intrusion_sets(rows, members, settings)
    keys = pl.Series([item.indicator for s in sets for item in s.shared], dtype=pl.String).unique()
    witnesses = rows.filter(pl.col("indicator").is_in(keys.implode())).group_by("indicator").agg(pl.col("account_id").min())
    names = readable_names(store, witnesses.get_column("account_id").unique().sort().to_list())
    return [replace(s, shared=[replace(item, indicator=names.get(item.indicator, item.indicator)) for item in s.shared])
            for s in sets]
