"""Burners linked to no one join the campaign whose own exits they rotate through; accounts rotating through one pool
of exits are linked by it."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from distillguard.campaigns import load_campaign_settings
from distillguard.campaigns.cluster import Campaign, CampaignResult, add_pool_members
from distillguard.campaigns.edges import link_accounts
from distillguard.campaigns.indicators import Indicators, compact_indicators
from distillguard.campaigns.pools import pool_members, rotation_pools, with_rotation_pools
from distillguard.core.decision import Evidence

POOL = [f"pool-{k}" for k in range(20)]
NAT = [f"nat-{k}" for k in range(4)]


def _indicators(addresses: dict[str, dict[str, float]]) -> Indicators:
    names = list(addresses)
    rows = [(i, "ip", zlib.crc32(ip.encode()), x) for i, name in enumerate(names) for ip, x in addresses[name].items()]
    table = compact_indicators(pl.DataFrame(rows, schema={"i": pl.UInt32, "kind": pl.Utf8, "h": pl.UInt64, "x": pl.Float64},
                                            orient="row"))
    return Indicators(pl.Series(names), table)


def _world() -> dict[str, dict[str, float]]:
    """A campaign of 10 members over a pool of 20 exits and a carrier NAT, and who else is seen there."""
    world: dict[str, dict[str, float]] = {}
    for m in range(10):
        world[f"member-{m}"] = {POOL[(2 * m + k) % 20]: 0.2 for k in range(4)} | {NAT[m % 4]: 0.2}
    for b in range(3):  # burners: every request from another address of the pool
        world[f"burner-{b}"] = {POOL[(7 * b + k) % 20]: 1 / 6 for k in range(6)}
    world["home-user"] = {POOL[3]: 0.5, "home": 0.5}  # a home line the proxy network also routes through
    world["light-user"] = {POOL[5]: 0.2, POOL[9]: 0.15, POOL[11]: 0.1, "own": 0.55}  # under half through the pool
    for u in range(30):  # phone users at the carrier NAT the campaign also leaves through
        world[f"phone-{u}"] = {NAT[u % 4]: 0.5, NAT[(u + 1) % 4]: 0.3, NAT[(u + 2) % 4]: 0.2}
    return world


def test_burners_join_and_users_of_shared_or_own_addresses_do_not() -> None:
    indicators = _indicators(_world())
    settings = load_campaign_settings().cluster
    campaign = {"CMP-1": [f"member-{m}" for m in range(10)]}
    assert pool_members(campaign, indicators, settings) == {"CMP-1": ["burner-0", "burner-1", "burner-2"]}
    result = CampaignResult([], {}, {})
    assert pool_members({}, indicators, settings) == {}
    add_pool_members(result, indicators, settings)
    assert result.campaign_of == {}


def test_joined_accounts_are_fully_tied_and_the_campaign_says_why() -> None:
    indicators = _indicators(_world())
    members = [f"member-{m}" for m in range(10)]
    camp = Campaign("CMP-1", members, 0.95, 0.9, [Evidence("account.cot_elicitation", 0.9, "asks")])
    result = CampaignResult([camp], dict.fromkeys(members, "CMP-1"), dict.fromkeys(members, 0.8))
    add_pool_members(result, indicators, load_campaign_settings().cluster)
    assert camp.members == sorted([*members, "burner-0", "burner-1", "burner-2"])
    assert result.campaign_of["burner-1"] == "CMP-1" and result.tie["burner-1"] == 1.0
    assert camp.confidence == pytest.approx(0.95 * (10 * 0.8 + 3 * 1.0) / 13)  # risk times the members' mean tie
    assert camp.evidence[0].detector == "campaign.pool_members" and "3 accounts" in camp.evidence[0].reason
    assert "home-user" not in result.campaign_of and "phone-0" not in result.campaign_of


def test_a_burner_split_between_two_campaigns_joins_the_one_it_sends_most_through() -> None:
    world = _world()
    other = [f"other-{k}" for k in range(8)]
    for k, name in enumerate(other):
        world[name] = {f"dc-{(k + j) % 8}": 0.25 for j in range(4)}
    world["burner-0"] = {POOL[0]: 0.15, POOL[1]: 0.15, POOL[2]: 0.15, "dc-0": 0.2, "dc-1": 0.15, "dc-2": 0.2}
    found = pool_members({"CMP-1": [f"member-{m}" for m in range(10)], "CMP-2": other}, _indicators(world),
                         load_campaign_settings().cluster)
    assert found == {"CMP-1": ["burner-1", "burner-2"], "CMP-2": ["burner-0"]}


def test_a_person_at_exits_the_campaign_dominates_joins_only_if_unknown_to_keep_an_address() -> None:
    """A campaign large beside a carrier NAT's users makes most NAT addresses its own; a phone user seen at three of
    them over its sessions keeps each a while, a burner takes a new one per request."""
    world = _world()
    for m in range(10):
        world[f"member-{m}"] = {NAT[k]: 0.25 for k in range(4)}
    world["phone-0"] = {NAT[0]: 0.4, NAT[1]: 0.3, NAT[2]: 0.3}
    world["burner-9"] = {NAT[1]: 0.25, NAT[2]: 0.25, NAT[3]: 0.25, NAT[0]: 0.25}
    for u in range(1, 30):
        del world[f"phone-{u}"]
    campaign = {"CMP-1": [f"member-{m}" for m in range(10)]}
    settings = load_campaign_settings().cluster
    indicators = _indicators(world)
    assert "phone-0" in pool_members(campaign, indicators, settings)["CMP-1"]
    rotating = np.array([not name.startswith("phone") for name in indicators.accounts.to_list()])
    joined = pool_members(campaign, replace(indicators, rotating=rotating), settings)["CMP-1"]
    assert "phone-0" not in joined and "burner-9" in joined


def _rotation_world() -> tuple[dict[str, dict[str, float]], set[str]]:
    """Bought accounts rotating per request through a proxy pool of 40 exits, two rotators and thirty phone users
    at a carrier NAT, a rotator sending most of its traffic from its own line, and people at their homes; with the
    accounts that rotate."""
    exits = [f"proxy-{k}" for k in range(40)]
    world: dict[str, dict[str, float]] = {}
    for a in range(24):  # each request from another exit: a dozen of the pool's 40, two accounts rarely share one
        world[f"fleet-{a}"] = {exits[(7 * a + 3 * k) % 40]: 1 / 12 for k in range(12)}
    for r in range(2):
        world[f"nat-rotator-{r}"] = {NAT[k]: 0.25 for k in range(4)}
    for u in range(30):
        world[f"phone-{u}"] = {NAT[u % 4]: 0.7, NAT[(u + 1) % 4]: 0.3}
    world["mostly-home"] = {exits[0]: 0.1, exits[1]: 0.1, exits[2]: 0.1, "own-line": 0.7}
    for h in range(20):
        world[f"home-{h}"] = {f"home-line-{h}": 1.0}
    rotating = {name for name in world if name.startswith(("fleet", "nat-rotator", "mostly-home"))}
    return world, rotating


def _rotating(indicators: Indicators, names: set[str]) -> Indicators:
    return replace(indicators, rotating=np.array([name in names for name in indicators.accounts.to_list()]))


def test_accounts_rotating_through_one_pool_share_its_indicator_and_are_linked_by_it() -> None:
    world, rotating = _rotation_world()
    indicators = _indicators(world)
    settings = load_campaign_settings().link
    pools = rotation_pools(_rotating(indicators, rotating), settings.rotation)
    names = indicators.accounts.to_list()
    assert sorted(names[i] for i in pools.get_column("i")) == sorted(f"fleet-{a}" for a in range(24))
    assert pools.get_column("h").n_unique() == 1 and pools.get_column("kind").cast(pl.String).unique().to_list() == [
        "rotation_pool"]
    assert not set(pools.get_column("h")) & set(indicators.table.get_column("h"))
    assert (pools.get_column("x") == 1.0).all()
    edges = link_accounts(with_rotation_pools(_rotating(indicators, rotating), settings.rotation), settings)
    assert set(edges.get_column("a")) | set(edges.get_column("b")) == {f"fleet-{a}" for a in range(24)}
    assert edges.get_column("strong").all()
    assert link_accounts(indicators, settings).is_empty()


def test_no_pool_without_enough_rotating_accounts_that_are_most_of_an_exit() -> None:
    world, rotating = _rotation_world()
    indicators = _indicators(world)
    settings = load_campaign_settings().link.rotation
    few = {f"fleet-{a}" for a in range(2)}
    assert rotation_pools(_rotating(indicators, few), settings).is_empty()
    people = _indicators(world | {f"person-{k}": {f"proxy-{k}": 1.0} for k in range(40)})  # one person at each exit
    assert rotation_pools(_rotating(people, rotating), settings).height == 24
    assert rotation_pools(_rotating(people, rotating), settings.model_copy(update={"purity": 0.9})).is_empty()
    assert rotation_pools(_rotating(indicators, rotating), settings.model_copy(update={"min_exits": 13})).is_empty()
    assert with_rotation_pools(indicators, settings) is indicators  # nobody known to rotate
