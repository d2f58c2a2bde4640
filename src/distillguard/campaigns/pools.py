"""Accounts linked to no one that rotate through a campaign's own exits: its burners, added to it.

A reseller's burner sends a handful of requests, each from another address of
the operator's proxy pool. With a pool of a hundred addresses and a few
hundred burners, two burners rarely share more than one address, and nothing
else they show is rare enough to link them: many are left out of every
community although every request they send leaves through the campaign's
pool. The pool itself is plain once the campaign is found: an address is the
campaign's exit when most of the accounts seen at it are the campaign's
members. An account that is in no campaign and sends most of its traffic
through several of one campaign's exits is one of its burners. An ordinary
user is seen at one or two addresses of its own (a home, a phone), and at
an exit shared by many ordinary users (a carrier NAT, a VPN) the campaign's
members are not most of the accounts seen.
"""

from __future__ import annotations

import polars as pl

from distillguard.campaigns.indicators import Indicators
from distillguard.campaigns.settings import CampaignSettings
from distillguard.core.decision import Evidence

POOL_SHARE = 0.5
"""Share of an account's exchanges that must leave through one campaign's exits for it to join the campaign."""


def pool_members(campaigns: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings
                 ) -> dict[str, list[str]]:
    """Per campaign, the accounts in none of ``campaigns`` that send at least :data:`POOL_SHARE` of their
    exchanges through at least ``settings.pool_min`` of its exits.

    An exit (an address) is a campaign's when at least ``settings.pool_purity`` of the accounts seen at it, and
    two or more, are its members. An account qualifying for several campaigns joins the one it uses most.
    """
    if not campaigns:
        return {}
    code = {name: k for k, name in enumerate(indicators.accounts.to_list())}
    ids = list(campaigns)
    members = pl.DataFrame(
        [(code[m], c) for c, names in enumerate(campaigns.values()) for m in names if m in code],
        schema={"i": pl.UInt32, "c": pl.UInt32}, orient="row",
    )
    ips = indicators.table.filter(pl.col("kind") == "ip").select("i", "h", "x")
    seen = ips.group_by("h").agg(pl.len().alias("accounts"))
    exits = (
        ips.join(members, on="i").group_by("h", "c").agg(pl.len().alias("inside"))
        .join(seen, on="h")
        .filter((pl.col("inside") >= 2) & (pl.col("inside") >= settings.pool_purity * pl.col("accounts")))
        .select("h", "c")
    )
    users = (
        ips.join(members.select("i"), on="i", how="anti").join(exits, on="h")
        .group_by("i", "c").agg(pl.len().alias("exits"), pl.col("x").sum().alias("share"))
        .filter((pl.col("exits") >= settings.pool_min) & (pl.col("share") >= POOL_SHARE))
        .sort("i", "share", "c", descending=[False, True, False]).unique("i", keep="first", maintain_order=True)
    )
    names = indicators.accounts
    found: dict[str, list[str]] = {}
    for i, c in users.select("i", "c").iter_rows():
        found.setdefault(ids[c], []).append(names[i])
    return {cid: sorted(accounts) for cid, accounts in found.items()}


def pool_evidence(joined: int) -> Evidence:
    """The campaign's evidence that ``joined`` accounts linked to no one use its exits."""
    return Evidence("campaign.pool_members", 1.0,
                    f"{joined:,} accounts linked to no one else send most of their traffic through its exits")
