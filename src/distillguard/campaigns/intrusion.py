"""Intrusion sets: campaigns run by one operator, grouped by the infrastructure they share over time.

A campaign's indicators are those its member accounts show (the compact
indicators of :func:`~distillguard.analysis.indicators.load_indicators`, as a
long table by :func:`indicator_rows`): addresses and subnets, clients,
templates, payment fingerprints, signup patterns. Only indicators that
campaign members mostly own count, each weighed by its rarity over every
account in the store, so a big VPN exit, a university NAT or a common client
version links nothing. Two campaigns are linked when they overlap in at least
two families, or strongly in a strong family (a payment fingerprint), or share
a whole pool of one family (the same rotation of client strings); the linked
components are the intrusion sets. Campaigns of several runs are grouped
alike: the same campaign id in two runs is one campaign seen twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from distillguard.campaigns.indicators import Indicators
from distillguard.campaigns.settings import IntrusionSettings, load_campaign_settings
from distillguard.core.ids import text_hash64


@dataclass(frozen=True)
class SharedIndicator:
    """An indicator shown by several campaigns of a set."""

    family: str
    indicator: str
    campaigns: int
    accounts: int


@dataclass(frozen=True)
class CampaignLink:
    """Why two campaigns are one operator's: family → rarity-weighted overlap."""

    a: str
    b: str
    families: dict[str, float]


@dataclass
class IntrusionSet:
    """Campaigns of one operator, the runs they were seen in, and the evidence that ties them."""

    set_id: str
    campaigns: list[str]
    runs: dict[str, list[str]]
    """campaign id → the runs it was found in."""
    links: list[CampaignLink]
    shared: list[SharedIndicator]


def indicator_rows(indicators: Indicators) -> pl.DataFrame:
    """The compact indicators as a long table ``account_id, family, indicator`` (``kind:#hash``)."""
    table = indicators.table
    return pl.DataFrame({
        "account_id": indicators.accounts.gather(table.get_column("i")),
        "family": table.get_column("family").cast(pl.String),
        "indicator": (table.get_column("kind").cast(pl.String) + ":#" + table.get_column("h").cast(pl.String)),
    })


def campaign_indicators(indicators: pl.DataFrame, members: pl.DataFrame, settings: IntrusionSettings) -> pl.DataFrame:
    """``campaign_id, family, indicator, accounts, weight``: the indicators each campaign shows.

    Only indicators that campaign members mostly own count (``min_ownership`` of
    the accounts showing one are members of some campaign): a popular client or
    a NAT address shared with ordinary users says nothing about an operator.
    ``weight`` is the indicator's rarity over every account of ``indicators``,
    ``log(1 + N / m)`` with ``m`` the accounts showing it.
    """
    n_accounts = max(1, indicators.get_column("account_id").n_unique())
    shown = indicators.filter(pl.col("family").is_in(settings.families)).select("account_id", "family", "indicator").unique()
    in_campaigns = members.select("account_id").unique()
    rarity = (
        shown.with_columns(pl.col("account_id").is_in(in_campaigns.get_column("account_id").implode()).alias("member"))
        .group_by("family", "indicator").agg(pl.len().alias("m"), pl.col("member").sum().alias("owned"))
        .filter(pl.col("owned") >= settings.min_ownership * pl.col("m"))
        .with_columns((1.0 + n_accounts / pl.col("m")).log().alias("weight"))
    )
    sizes = members.group_by("campaign_id").agg(pl.col("account_id").n_unique().alias("size"))
    per_campaign = (
        members.select("campaign_id", "account_id").unique()
        .join(shown, on="account_id")
        .group_by("campaign_id", "family", "indicator").agg(pl.len().alias("accounts"))
        .join(sizes, on="campaign_id")
        .filter(pl.col("accounts") >= pl.min_horizontal(pl.col("size"), pl.lit(settings.min_members)))
        .join(rarity, on=["family", "indicator"])
    )
    return per_campaign.select("campaign_id", "family", "indicator", "accounts", "weight")


def link_campaigns(per_campaign: pl.DataFrame, settings: IntrusionSettings) -> list[CampaignLink]:
    """Campaign pairs whose rarity-weighted overlap (over the smaller side) passes the family rules.

    Linked: overlap in ``min_families`` families, or in a strong family, or a
    whole pool of owned indicators of one family (e.g. the same rotation of
    forty client strings) shared.
    """
    totals = per_campaign.group_by("campaign_id", "family").agg(pl.col("weight").sum().alias("total"))
    left = per_campaign.select("campaign_id", "family", "indicator", "weight")
    pairs = (
        left.join(left.select("campaign_id", "family", "indicator"), on=["family", "indicator"], suffix="_b")
        .filter(pl.col("campaign_id") < pl.col("campaign_id_b"))
        .group_by("campaign_id", "campaign_id_b", "family").agg(pl.col("weight").sum().alias("shared"),
                                                               pl.len().alias("n_shared"))
        .join(totals, on=["campaign_id", "family"])
        .join(totals.rename({"campaign_id": "campaign_id_b", "total": "total_b"}), on=["campaign_id_b", "family"])
        .with_columns((pl.col("shared") / pl.min_horizontal("total", "total_b")).alias("overlap"))
        .filter(pl.col("overlap") >= settings.family_min)
    )
    links = []
    for (a, b), group in pairs.group_by("campaign_id", "campaign_id_b"):
        families = {f: round(o, 3) for f, o in zip(group.get_column("family"), group.get_column("overlap"))}
        pool = ((group.get_column("n_shared") >= settings.pool_indicators)
                & (group.get_column("overlap") >= settings.pool_overlap)).any()
        strong = pool or any(families.get(f, 0.0) >= v for f, v in settings.strong_families.items())
        if strong or len(families) >= settings.min_families:
            links.append(CampaignLink(str(a), str(b), dict(sorted(families.items(), key=lambda kv: -kv[1]))))
    return sorted(links, key=lambda link: (link.a, link.b))


def group_intrusion_sets(
    indicators: pl.DataFrame, members: pl.DataFrame, settings: IntrusionSettings | None = None
) -> list[IntrusionSet]:
    """Group the campaigns of ``members`` (``run_id, campaign_id, account_id``) into intrusion sets.

    ``indicators`` is the long table ``account_id, family, indicator`` over
    every account. Every campaign belongs to exactly one set (a set of one
    when nothing links it).
    """
    settings = settings or load_campaign_settings().intrusion
    if members.height == 0:
        return []
    per_campaign = campaign_indicators(indicators, members, settings)
    links = link_campaigns(per_campaign, settings)
    ids = sorted(members.get_column("campaign_id").unique().to_list())
    parent = {cid: cid for cid in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        ra, rb = root(link.a), root(link.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for cid in ids:
        groups.setdefault(root(cid), []).append(cid)
    runs = members.group_by("campaign_id").agg(pl.col("run_id").unique().sort())
    runs_of = dict(zip(runs.get_column("campaign_id").to_list(), runs.get_column("run_id").to_list()))
    sets = []
    for campaigns in groups.values():
        inside = set(campaigns)
        sets.append(IntrusionSet(
            set_id="IS-" + format(text_hash64(min(campaigns)), "016x")[:10],
            campaigns=campaigns,
            runs={c: list(runs_of[c]) for c in campaigns},
            links=[link for link in links if link.a in inside],
            shared=_shared(per_campaign.filter(pl.col("campaign_id").is_in(campaigns)), settings.max_evidence),
        ))
    return sorted(sets, key=lambda s: (-len(s.campaigns), s.set_id))


def _shared(per_campaign: pl.DataFrame, limit: int, per_family: int = 3) -> list[SharedIndicator]:
    """The rarest indicators that several campaigns of a set show: the rarest of each family first."""
    shared = (
        per_campaign.group_by("family", "indicator")
        .agg(pl.len().alias("campaigns"), pl.col("accounts").sum(), pl.col("weight").first())
        .filter(pl.col("campaigns") >= 2)
        .with_columns((pl.col("weight") * pl.col("campaigns")).alias("score"))
        .sort(["score", "indicator"], descending=[True, False])
        .with_columns(pl.int_range(pl.len()).over("family").alias("rank"))
        .filter(pl.col("rank") < per_family)
        .sort(["rank", "score", "indicator"], descending=[False, True, False])
        .head(limit)
    )
    return [SharedIndicator(f, i, int(c), int(a)) for f, i, c, a in
            shared.select("family", "indicator", "campaigns", "accounts").iter_rows()]


def set_of(sets: list[IntrusionSet], campaign_id: str) -> IntrusionSet | None:
    """The intrusion set holding ``campaign_id``, if any."""
    return next((s for s in sets if campaign_id in s.campaigns), None)


def pair_agreement(sets: list[IntrusionSet], truth: dict[str, str]) -> dict[str, float]:
    """How the sets agree with true operators (``campaign id → operator``): pairwise precision and recall."""
    label = {c: s.set_id for s in sets for c in s.campaigns if c in truth}
    ids = sorted(label)
    same_set = np.array([[label[a] == label[b] for b in ids] for a in ids], dtype=bool)
    same_op = np.array([[truth[a] == truth[b] for b in ids] for a in ids], dtype=bool)
    upper = np.triu(np.ones_like(same_set), k=1)
    both = (same_set & same_op & upper).sum()
    predicted, actual = (same_set & upper).sum(), (same_op & upper).sum()
    return {
        "campaigns": float(len(ids)),
        "pair_precision": float(both / predicted) if predicted else 1.0,
        "pair_recall": float(both / actual) if actual else 1.0,
    }
