"""Accounts linked to no one that use a campaign's own exits or clients: its burners, added to it.

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

A fleet posing as consumers keeps each address for a session, behind a
carrier NAT or a residential pool it shares with people, and shows the
population's browsers: linking splits it into many small campaigns, each
holding few of its exits, and leaves many of its accounts linked to no one.
Its campaigns together are most of the accounts seen at its exits. An account
in no campaign that keeps an address a while joins them only where its own
tasks weigh for a harvester (counted evidence above 0 nats): a person
behind that NAT asks for the reasoning no more than anyone, and a fleet that
asks no more than a person harvests nothing.

With a pool of thousands of addresses, most burners share no address with
anyone. What a burner cannot leave is its operator's harness: a client (user
agent and TLS fingerprint) most of whose users are the campaign's members.
An account in no campaign that rotates per request and sends most of its
traffic with such clients is one of its burners too (:func:`harness_members`).
A developer on an uncommon client keeps its home line; the people who rotate
(behind a VPN or a proxy) use the population's browsers and SDKs, whose users
are mostly not the campaign's. Where a fleet is most of a popular library's
users, the library's other users rotate no more often than anyone, and the
harness takes none of them.

A burner that keeps one exit of its operator's pool, on the operator's spoofed
client, neither rotates nor links when the operator rotates its agent: two
burners' few agents rarely match. It leaves through the campaign's exits with
the campaign's clients, which together no person does
(:func:`infrastructure_users`).

A reseller's burner that relays ordinary chat keeps an address of its own and
asks for nothing a harvester weighs: only its operator's client ties it to the
campaign. A developer on an uncommon client does the same. What tells them
apart is the cohort: a fleet's burners are new accounts, while the people
on a client a campaign holds are new at the population's rate. Where the new
accounts are most of a campaign's clients' other users, and more than chance
gives at that rate, they are its burners (:func:`cohort_users`).

A pool can also be found before any campaign is: bought, aged accounts on a
popular browser's identity, each on a card of its own, share nothing rare
but their exits, and a driver that takes a new exit for every request
spreads each account over a dozen addresses of a pool of hundreds, so that
two of them share one address or none. Together they are plain: addresses
at which nearly every account seen rotates, joined by the accounts that
rotate through them (:func:`rotation_pools`). People do not rotate per
request (a conversation keeps its connection; a phone keeps its NAT address
for a session), so at a carrier NAT or a household most accounts seen do
not. A fleet that keeps one exit per account shares it instead (an address
links its accounts), or needs a pool as large as its traffic.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import polars as pl
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import binom

from distillguard.campaigns.indicators import Indicators, compact_indicators
from distillguard.campaigns.settings import CampaignSettings, RotationSettings
from distillguard.core.decision import Evidence
from distillguard.core.ids import splitmix64

POOL_SHARE = 0.5
"""Share of an account's exchanges that must leave through one campaign's exits for it to join the campaign."""
HARNESS_REACH = 0.5
"""Share of a campaign's members that must show a client for it to be the campaign's harness: a fleet rotating
through many clients (the population's browsers among them) has none."""
HARNESS_CHANCE = 1e-3
"""A campaign's harness takes its rotating users outside the campaign only when that many would be this unlikely at
the rate the accounts on no harness rotate (binomial): a fleet's burners are most of its harness's rotating users,
while a library many people use has, beside the fleet, people on phones and proxies who rotate as often as anyone."""
_POOL_SALT = np.uint64(0x726F746174696F6E)
"""Mixed into a pool's indicator hash so that it never equals the hash of one of its addresses."""
_FLAGGED_SALT = np.uint64(0x666C616767656421)
"""Mixed into a flagged pool's indicator hash: never one of its addresses', nor a rotation pool's."""
_NO_POOLS = pl.DataFrame(schema={"i": pl.UInt32, "kind": pl.String, "h": pl.UInt64, "x": pl.Float32})
"""No pool rows (before :func:`~distillguard.campaigns.indicators.compact_indicators`)."""


def pool_members(campaigns: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings
                 ) -> dict[str, list[str]]:
    """Per campaign, the accounts in none of ``campaigns`` that send at least :data:`POOL_SHARE` of their
    exchanges through at least ``settings.pool_min`` of the campaigns' exits and, where ``indicators`` say which
    accounts rotate or harvest, rotate or have tasks of their own that weigh for a harvester (a person behind a
    carrier NAT the campaigns also leave through keeps an address a while, and asks for the reasoning no more
    than anyone).

    An exit (an address) is the campaigns' when at least ``settings.pool_purity`` of the accounts seen at it, and
    two or more, are members of one of them; it is the campaign's with the most members seen at it (one fleet split
    into many small campaigns holds its pool together). An account joins the campaign whose exits it sends most
    through.
    """
    if not campaigns:
        return {}
    members = _members(campaigns, _index(indicators))
    ips = indicators.table.filter(pl.col("kind") == "ip").select("i", "h", "x")
    outside = ips.join(members.select("i"), on="i", how="anti")
    if indicators.rotating is not None:
        keep = indicators.rotating.astype(bool)
        if indicators.harvesting is not None:
            keep = keep | indicators.harvesting.astype(bool)
        outside = outside.filter(pl.Series(keep[outside.get_column("i").to_numpy()]))
    users = _mostly_through(outside, _held(ips, members, settings.pool_purity))
    return _joining(users.filter(pl.col("shown") >= settings.pool_min), list(campaigns), indicators)


class PoolUsers(NamedTuple):
    """Who uses a campaign's own infrastructure: the accounts in no campaign that join it, and its members that use
    it as they do."""

    joining: dict[str, list[str]]
    """Per campaign, the accounts in no campaign that join it."""
    tied: list[str]
    """The members that use their own campaign's: as tied to it as an account that joins it by them."""


def harness_members(campaigns: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings,
                    joined: Collection[str] = ()) -> PoolUsers:
    """The accounts that rotate (``indicators.rotating``; none when unknown), are seen at ``settings.pool_min``
    addresses or more, and send at least :data:`POOL_SHARE` of their exchanges with a campaign's own clients: per
    campaign, those in none of ``campaigns`` nor ``joined``, and the members on their own campaign's.

    A client (user agent and TLS fingerprint) is a campaign's harness when at least :data:`HARNESS_REACH` of its
    members show it, and its members are at least ``settings.pool_purity`` of the accounts showing it: what the
    operator runs, not a popular SDK or browser, whose users are mostly other people. A fleet rotating through
    many clients has no harness (in a small population it may be most of one browser's users). Neither fact
    alone is an operator: a developer runs an uncommon client from a home line, and people on a VPN or a proxy
    rotate. A reseller's burner of a handful of requests, each from another exit of a pool of thousands, shares
    no exit with anyone and so links to no one, yet it cannot leave its operator's harness without giving up the
    harness's work. An account qualifying for several campaigns joins the one whose clients it uses most.

    A harness whose users outside the campaign rotate no more often than the accounts on no harness do
    (:data:`HARNESS_CHANCE`) takes none of them: in a population where a fleet is most of a popular library's
    users, the library's other users are people, some of whom rotate.
    """
    if not campaigns or indicators.rotating is None:
        return PoolUsers({}, [])
    code = _index(indicators)
    members = _members(campaigns, code)
    clients = indicators.table.filter(pl.col("kind") == "client").select("i", "h", "x")
    seen = indicators.table.filter(pl.col("kind") == "ip").group_by("i").agg(pl.len().alias("exits"))
    exits = np.zeros(len(indicators.accounts))
    exits[seen.get_column("i").to_numpy()] = seen.get_column("exits").to_numpy()
    rotates = indicators.rotating.astype(bool) & (exits >= settings.pool_min)
    harness = _owned(clients, members, settings.pool_purity, HARNESS_REACH)
    outside = clients.join(_taken(members, joined, code), on="i", how="anti")
    on_harness = outside.join(harness, on="h")
    users = (
        on_harness.filter(pl.Series(rotates[on_harness.get_column("i").to_numpy()]))
        .group_by("i", "c").agg(pl.col("x").sum().alias("share"))
        .filter(pl.col("share") >= POOL_SHARE)
    )
    own = clients.join(members, on="i").join(harness, on=["h", "c"])  # members on their own campaign's harness
    tied = (
        own.filter(pl.Series(rotates[own.get_column("i").to_numpy()]))
        .group_by("i").agg(pl.col("x").sum().alias("share"))
        .filter(pl.col("share") >= POOL_SHARE).get_column("i").sort()
    )
    return PoolUsers(_joining(users.filter(pl.col("c").is_in(_beyond_chance(users, on_harness, outside, rotates))),
                              list(campaigns), indicators),
                     indicators.accounts.cast(pl.String).gather(tied).to_list())


def infrastructure_users(campaigns: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings,
                         joined: Collection[str] = ()) -> PoolUsers:
    """The accounts, rotating or not, that send at least :data:`POOL_SHARE` of their exchanges through the
    campaigns' exits and at least as much with their clients: those in none of ``campaigns`` nor ``joined``, per
    campaign whose clients they use most, and the members that use their own campaign's clients.

    An exit or a client (user agent and TLS fingerprint) is the campaigns' when at least ``settings.pool_purity`` of
    the accounts showing it, and two or more, are members of one of them; it is the campaign's with the most of
    them. A burner of a handful of requests that keeps one exit of its operator's pool and spoofs an agent the
    operator rotates is often linked to no one: it shares its exit with a dozen fellow burners, but a pair needs a
    close client too, and two burners' few agents rarely match. It cannot leave both the operator's exits and its
    harness without giving up the work. Each fact alone is a person's: the user of a home line a proxy network also
    routes through, a developer on an uncommon client. Together they are the campaigns' own infrastructure; a
    person at an exit a campaign shares with the public (a carrier NAT, a VPN) uses the population's apps and
    browsers, most of whose users are not the campaign's. Two fleets may share a proxy pool, each on a harness of
    its own: a burner joins the campaign whose clients it runs. Where a fleet is most of the accounts at a VPN's
    exits and most of a popular library's users, the people at those exits use the library no more often than the
    people elsewhere: a campaign takes them only when fewer than :data:`HARNESS_CHANCE` would be this many at the
    rate the accounts outside every campaign and away from the campaigns' exits use its clients (binomial).
    """
    if not campaigns:
        return PoolUsers({}, [])
    code = _index(indicators)
    members = _members(campaigns, code)
    ips, shown = (indicators.table.filter(pl.col("kind") == kind).select("i", "h", "x") for kind in ("ip", "client"))
    exits, clients = (_mostly_through(rows, _held(rows, members, settings.pool_purity)) for rows in (ips, shown))
    both = clients.join(exits.select("i"), on="i")
    tied = both.join(members, on=["i", "c"], how="semi").get_column("i").unique().sort()
    left = _taken(members, joined, code)
    exits, clients, outside = (frame.join(left, on="i", how="anti") for frame in (exits, clients, both))
    rest, n = len(indicators.accounts) - left.get_column("i").n_unique(), exits.height
    tally = (clients.group_by("c").agg(pl.len().alias("m"))
             .join(outside.group_by("c").agg(pl.len().alias("k")), on="c"))
    c, m, k = (tally.get_column(name).to_numpy() for name in ("c", "m", "k"))
    rate = np.divide(m - k, rest - n, out=np.zeros(len(c)), where=rest > n)
    kept = c[binom.sf(k - 1, n, rate) <= HARNESS_CHANCE].tolist()
    return PoolUsers(_joining(outside.filter(pl.col("c").is_in(kept)), list(campaigns), indicators),
                     indicators.accounts.cast(pl.String).gather(tied).to_list())


def cohort_users(campaigns: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings,
                 joined: Collection[str] = ()) -> dict[str, list[str]]:
    """Per campaign, the young accounts (``indicators.young``; none when unknown) in none of ``campaigns`` nor
    ``joined`` that send at least :data:`POOL_SHARE` of their exchanges with the campaigns' clients, where they are
    at least ``settings.pool_purity`` of those clients' users outside the campaigns and more than chance gives.

    A client (user agent and TLS fingerprint) is the campaigns' as in :func:`infrastructure_users`; a user joins
    the campaign whose clients it uses most. A campaign takes its clients' young users only when fewer than
    :data:`HARNESS_CHANCE` would be this many at the rate at which the accounts outside every campaign and on none
    of the campaigns' clients are young (binomial): a fleet's burners are new accounts, the people on a client a
    fleet is most of are new at the population's rate, and a campaign whose clients' other users are mostly not
    young takes none of them.
    """
    if not campaigns or indicators.young is None:
        return {}
    code = _index(indicators)
    members = _members(campaigns, code)
    shown = indicators.table.filter(pl.col("kind") == "client").select("i", "h", "x")
    held = _held(shown, members, settings.pool_purity)
    left = _taken(members, joined, code)
    young = indicators.young.astype(bool)
    users = _mostly_through(shown, held).join(left, on="i", how="anti")
    users = users.with_columns(pl.Series("young", young[users.get_column("i").to_numpy()], dtype=pl.Boolean))
    everyone = pl.DataFrame({"i": np.arange(len(indicators.accounts), dtype=np.uint32)})
    others = (everyone.join(left, on="i", how="anti").join(shown.join(held, on="h").select("i"), on="i", how="anti")
              .get_column("i").to_numpy())
    rate = float(young[others].mean()) if len(others) else 0.0
    tally = users.group_by("c").agg(pl.len().alias("n"), pl.col("young").sum().alias("k"))
    c, n, k = (tally.get_column(name).to_numpy() for name in ("c", "n", "k"))
    kept = c[(k >= settings.pool_purity * n) & (binom.sf(k - 1, n, rate) <= HARNESS_CHANCE)].tolist()
    return _joining(users.filter(pl.col("young") & pl.col("c").is_in(kept)), list(campaigns), indicators)


def _mostly_through(rows: pl.DataFrame, held: pl.DataFrame) -> pl.DataFrame:
    """``i, c, share, shown``: the accounts of ``rows`` (``i, h, x``) that show indicators of ``held`` (``h, c``, as
    :func:`_held` gives them) on at least :data:`POOL_SHARE` of their exchanges, with how many they show, each with
    the campaign whose indicators it shows most (the first of a tie)."""
    return (
        rows.join(held, on="h").group_by("i", "c").agg(pl.col("x").sum().alias("share"), pl.len().alias("shown"))
        .sort("i", "share", "c", descending=[False, True, False])
        .group_by("i", maintain_order=True).agg(pl.col("c").first(), pl.col("share").sum(), pl.col("shown").sum())
        .filter(pl.col("share") >= POOL_SHARE)
    )


def _beyond_chance(users: pl.DataFrame, on_harness: pl.DataFrame, outside: pl.DataFrame, rotates: np.ndarray
                   ) -> list[int]:
    """The campaigns (positions) whose harness has more rotating ``users`` than chance would give it: fewer than
    :data:`HARNESS_CHANCE` likely among all its users ``on_harness`` at the rate the accounts of ``outside`` on no
    harness rotate (``rotates``, by account code)."""
    others = outside.select("i").unique().join(on_harness.select("i").unique(), on="i", how="anti").get_column("i")
    rate = float(rotates[others.to_numpy()].mean()) if len(others) else 0.0
    tally = (on_harness.group_by("c").agg(pl.col("i").n_unique().alias("n"))
             .join(users.group_by("c").agg(pl.len().alias("k")), on="c"))
    c, n, k = (tally.get_column(name).to_numpy() for name in ("c", "n", "k"))
    return c[binom.sf(k - 1, n, rate) <= HARNESS_CHANCE].tolist()


def _index(indicators: Indicators) -> dict[str, int]:
    """Account name → its code in ``indicators``."""
    return {name: k for k, name in enumerate(indicators.accounts.to_list())}


def _members(campaigns: dict[str, list[str]], code: dict[str, int]) -> pl.DataFrame:
    """``i, c`` rows: each member's account ``code`` with its campaign's position in ``campaigns`` (members without
    a code left out)."""
    return pl.DataFrame(
        [(code[m], c) for c, names in enumerate(campaigns.values()) for m in names if m in code],
        schema={"i": pl.UInt32, "c": pl.UInt32}, orient="row",
    )


def _taken(members: pl.DataFrame, joined: Collection[str], code: dict[str, int]) -> pl.DataFrame:
    """``i``: the codes of the campaigns' ``members`` (as :func:`_members` gives them) and of the accounts already
    ``joined`` to one (those without a code left out)."""
    return pl.concat([members.select("i"),
                      pl.DataFrame({"i": [code[a] for a in joined if a in code]}, schema={"i": pl.UInt32})])


def _owned(rows: pl.DataFrame, members: pl.DataFrame, purity: float, reach: float = 0.0) -> pl.DataFrame:
    """``h, c``: the indicators of ``rows`` (``i, h, x``) that campaign ``c``'s ``members`` are at least ``purity``
    of, and two or more, of the accounts showing them, shown by at least ``reach`` of its members."""
    showing = rows.group_by("h").agg(pl.len().alias("accounts"))
    size = members.group_by("c").agg(pl.len().alias("size"))
    return (
        rows.join(members, on="i").group_by("h", "c").agg(pl.len().alias("inside"))
        .join(showing, on="h").join(size, on="c")
        .filter((pl.col("inside") >= 2) & (pl.col("inside") >= purity * pl.col("accounts"))
                & (pl.col("inside") >= reach * pl.col("size")))
        .select("h", "c")
    )


def _held(rows: pl.DataFrame, members: pl.DataFrame, purity: float) -> pl.DataFrame:
    """``h, c``: the indicators of ``rows`` (``i, h, x``) that the campaigns' ``members`` together are at least
    ``purity`` of, and two or more, of the accounts showing them, each with the campaign most of them are in (the
    first of a tie)."""
    showing = rows.group_by("h").agg(pl.len().alias("accounts"))
    inside = rows.join(members, on="i").group_by("h", "c").agg(pl.len().alias("inside"))
    return (
        inside.sort("h", "inside", "c", descending=[False, True, False])
        .group_by("h", maintain_order=True).agg(pl.col("c").first(), pl.col("inside").sum())
        .join(showing, on="h")
        .filter((pl.col("inside") >= 2) & (pl.col("inside") >= purity * pl.col("accounts")))
        .select("h", "c")
    )


def _joining(users: pl.DataFrame, ids: list[str], indicators: Indicators) -> dict[str, list[str]]:
    """Per campaign id, the accounts of ``users`` (``i, c, share``), each with the campaign it has the largest
    share with."""
    users = users.sort("i", "share", "c", descending=[False, True, False]).unique("i", keep="first", maintain_order=True)
    names = indicators.accounts
    found: dict[str, list[str]] = {}
    for i, c in users.select("i", "c").iter_rows():
        found.setdefault(ids[c], []).append(names[i])
    return {cid: sorted(accounts) for cid, accounts in found.items()}


def pool_evidence(joined: int) -> Evidence:
    """The campaign's evidence that ``joined`` accounts linked to no one use its exits."""
    return Evidence("campaign.pool_members", 1.0,
                    f"{joined:,} accounts linked to no one else send most of their traffic through its exits")


def harness_evidence(joined: int) -> Evidence:
    """The campaign's evidence that ``joined`` accounts linked to no one, rotating per request, use its clients."""
    return Evidence("campaign.harness_members", 1.0,
                    f"{joined:,} accounts linked to no one else, each taking a new address per request, send most of "
                    "their traffic with its own clients")


def infrastructure_evidence(joined: int) -> Evidence:
    """The campaign's evidence that ``joined`` accounts linked to no one use both its exits and its clients."""
    return Evidence("campaign.infrastructure_members", 1.0,
                    f"{joined:,} accounts linked to no one else send most of their traffic through its exits with its "
                    "own clients")


def cohort_evidence(joined: int) -> Evidence:
    """The campaign's evidence that ``joined`` new accounts linked to no one use its clients."""
    return Evidence("campaign.cohort_members", 1.0,
                    f"{joined:,} new accounts linked to no one else send most of their traffic with its own clients: "
                    "most of those clients' other users, far beyond the population's share of new accounts")


def rotation_pools(indicators: Indicators, settings: RotationSettings) -> pl.DataFrame:
    """Compact ``rotation_pool`` indicator rows (``i, family, kind, h, x``): per rotating account
    (``indicators.rotating``) seen at ``settings.min_exits`` addresses or more and in a pool, the pool it sends most
    of its requests through and that share of its requests.

    An address is a pool's exit when at least two of the accounts seen at it, and at least ``settings.purity`` of
    them, are such accounts. A pool is a connected set of such exits and the accounts using them; it needs
    ``settings.min_accounts`` accounts, each sending at least ``settings.min_share`` of its requests through it.
    """
    if indicators.rotating is None:
        return compact_indicators(_NO_POOLS)
    return _exit_pools(indicators, indicators.rotating.astype(bool), settings.min_exits, settings, "rotation_pool",
                       _POOL_SALT)


def flagged_pools(indicators: Indicators, settings: RotationSettings) -> pl.DataFrame:
    """Compact ``flagged_pool`` indicator rows (``i, family, kind, h, x``): per account its own evidence flags
    (``indicators.flagged``) and in a pool, the pool it sends most of its requests through and that share of its
    requests; as :func:`rotation_pools` does for rotating accounts, seen at any number of addresses.

    Bought or aged accounts of many customers, each on a card of its own, and spoofing a new agent per request,
    share nothing rare but the few exits of their operator's driver: their own evidence flags most of them, and
    the established ones among them only for review. An exit most of whose accounts their own evidence flags is
    no household's, office's or campus's (people there are flagged no more than anywhere); only the flagged
    accounts are linked by it, so that the people also seen at it are not.
    """
    if indicators.flagged is None:
        return compact_indicators(_NO_POOLS)
    return _exit_pools(indicators, indicators.flagged.astype(bool), 1, settings, "flagged_pool", _FLAGGED_SALT)


def _exit_pools(indicators: Indicators, holders: np.ndarray, min_exits: float, settings: RotationSettings, kind: str,
                salt: np.uint64) -> pl.DataFrame:
    """Compact ``kind`` rows of the pools of exits at least two, and at least ``settings.purity``, of whose
    accounts are ``holders`` (by account code) seen at ``min_exits`` addresses or more: per such account in a pool of
    ``settings.min_accounts`` or more, each sending ``settings.min_share`` of its requests or more through it, the
    pool it sends most through (its hash mixed with ``salt``) and that share."""
    ips = indicators.table.filter(pl.col("kind") == "ip").select("i", "h", "x")
    ips = ips.with_columns(pl.Series("held", holders[ips.get_column("i").to_numpy()]))
    ips = ips.with_columns(pl.col("held") & (pl.len().over("i") >= min_exits))
    exits = (
        ips.group_by("h").agg(pl.len().alias("seen"), pl.col("held").sum().alias("holders"))
        .filter((pl.col("holders") >= 2) & (pl.col("holders") >= settings.purity * pl.col("seen")))
        .select("h")
    )
    used = ips.filter(pl.col("held")).join(exits, on="h").with_columns(pl.col("h").rank("dense").alias("k"))
    if used.is_empty():
        return compact_indicators(_NO_POOLS)
    n = len(indicators.accounts)
    i = used.get_column("i").to_numpy().astype(np.int64)
    k = used.get_column("k").to_numpy().astype(np.int64) - 1 + n  # exits are the nodes after the accounts
    size = int(k.max()) + 1
    graph = sparse.coo_array((np.ones(len(i), np.int8), (i, k)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    pooled = (
        used.with_columns(pl.Series("pool", label[i]))
        .with_columns(pl.col("h").min().over("pool").alias("key"))
        .group_by("i", "pool", "key").agg(pl.col("x").sum())
        .filter(pl.col("x") >= settings.min_share)
        .sort("i", "x", "pool", descending=[False, True, False]).unique("i", keep="first", maintain_order=True)
        .filter(pl.len().over("pool") >= settings.min_accounts)
    )
    key = splitmix64(pooled.get_column("key").to_numpy() ^ salt)
    return compact_indicators(pooled.select("i", pl.lit(kind).alias("kind"), pl.Series("h", key), "x"))


def with_exit_pools(indicators: Indicators, settings: RotationSettings) -> Indicators:
    """``indicators`` with the rows of :func:`rotation_pools` and :func:`flagged_pools` appended (the same object
    when there are none)."""
    pools = pl.concat([rotation_pools(indicators, settings), flagged_pools(indicators, settings)])
    if pools.is_empty():
        return indicators
    return replace(indicators, table=pl.concat([indicators.table, pools], rechunk=False))
