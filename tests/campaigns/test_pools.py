"""Burners linked to no one join the campaign whose own exits they rotate through, or whose exits and clients they
use, or whose clients they use where new accounts are most of its clients' other users; accounts rotating through one
pool of exits are linked by it."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as run
from hypothesis import strategies as st

from distillguard.campaigns import load_campaign_settings
from distillguard.campaigns.cluster import Campaign, CampaignResult, add_pool_members
from distillguard.campaigns.edges import link_accounts
from distillguard.campaigns.indicators import Indicators, compact_indicators
from distillguard.campaigns.pools import (
    cohort_users,
    flagged_pools,
    harness_members,
    infrastructure_users,
    pool_members,
    rotation_pools,
    with_exit_pools,
)
from distillguard.core.decision import Evidence

POOL = [f"pool-{k}" for k in range(20)]
NAT = [f"nat-{k}" for k in range(4)]


def _indicators(addresses: dict[str, dict[str, float]], clients: dict[str, dict[str, float]] | None = None
                ) -> Indicators:
    """Each account's addresses (and clients), with the share of its requests on each."""
    names = list(addresses)
    rows = [(i, kind, zlib.crc32(value.encode()), x) for kind, shown in (("ip", addresses), ("client", clients or {}))
            for i, name in enumerate(names) for value, x in shown.get(name, {}).items()]
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


def test_a_burner_that_keeps_an_address_joins_only_if_its_own_tasks_weigh_for_a_harvester() -> None:
    """At a carrier NAT the campaign dominates, a burner keeping each address for a session rotates no more than a
    phone user; what it asks for still differs."""
    world = _world()
    for m in range(10):
        world[f"member-{m}"] = {NAT[k]: 0.25 for k in range(4)}
    world["phone-0"] = {NAT[0]: 0.4, NAT[1]: 0.3, NAT[2]: 0.3}
    world["session-burner"] = {NAT[1]: 0.4, NAT[2]: 0.3, NAT[3]: 0.3}
    for u in range(1, 30):
        del world[f"phone-{u}"]
    campaign = {"CMP-1": [f"member-{m}" for m in range(10)]}
    indicators = _indicators(world)
    names = indicators.accounts.to_list()
    still = replace(indicators, rotating=np.zeros(len(names), bool))
    settings = load_campaign_settings().cluster
    assert pool_members(campaign, still, settings) == {}
    harvesting = np.array([name == "session-burner" for name in names])
    assert pool_members(campaign, replace(still, harvesting=harvesting), settings) == {"CMP-1": ["session-burner"]}


def test_a_fleet_split_into_small_campaigns_holds_its_exits_together() -> None:
    """Six campaigns of two members each, one fleet: no campaign is most of the accounts at any exit, all of them
    together are; a burner joins the one whose exits it sends most through, a person at one of them does not."""
    world: dict[str, dict[str, float]] = {}
    campaigns: dict[str, list[str]] = {}
    for c in range(6):
        campaigns[f"CMP-{c}"] = [f"cell-{c}-{k}" for k in range(2)]
        for k in range(2):
            world[f"cell-{c}-{k}"] = {POOL[(3 * c + k + j) % 8]: 0.25 for j in range(4)}
    world["burner"] = {POOL[0]: 0.1, POOL[1]: 0.2, POOL[2]: 0.3, POOL[3]: 0.3, "home": 0.1}
    world["neighbour"] = {POOL[4]: 0.5, "home-2": 0.5}
    indicators = _indicators(world)
    alone = {cid: members for cid, members in campaigns.items() if cid == "CMP-0"}
    settings = load_campaign_settings().cluster
    assert pool_members(alone, indicators, settings) == {}
    # three of the burner's four exits (0.8 of its traffic) have most of their members in CMP-0
    assert pool_members(campaigns, indicators, settings) == {"CMP-0": ["burner"]}


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
    edges = link_accounts(with_exit_pools(_rotating(indicators, rotating), settings.rotation), settings)
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
    assert with_exit_pools(indicators, settings) is indicators  # nobody known to rotate


def _flagged(indicators: Indicators, names: set[str]) -> Indicators:
    return replace(indicators, flagged=np.array([name in names for name in indicators.accounts.to_list()]))


def test_accounts_flagged_on_their_own_at_exits_they_are_most_of_share_a_pool_and_are_linked_by_it() -> None:
    """Fourteen bought accounts of a driver on two datacenter exits, twelve of them flagged on their own, share a pool
    with no one else seen there (two of them unflagged, a visitor); a campus NAT with a few flagged students among
    two hundred is no pool, nor are two flagged accounts among the fourteen."""
    world = {f"bought-{a}": {"dc-0": 0.5, "dc-1": 0.5} for a in range(14)}
    world["visitor"] = {"dc-1": 0.3, "home": 0.7}
    world |= {f"student-{k}": {"campus": 1.0} for k in range(200)}
    flagged = {f"bought-{a}" for a in range(12)} | {f"student-{k}" for k in range(0, 200, 20)}
    settings = load_campaign_settings().link
    indicators = _flagged(_indicators(world), flagged)
    pools = flagged_pools(indicators, settings.rotation)
    names = indicators.accounts.to_list()
    assert sorted(names[i] for i in pools.get_column("i")) == sorted(f"bought-{a}" for a in range(12))
    assert pools.get_column("h").n_unique() == 1 and pools.get_column("kind").cast(pl.String).unique().to_list() == [
        "flagged_pool"]
    assert not set(pools.get_column("h")) & set(rotation_pools(_rotating(indicators, flagged), settings.rotation)
                                                 .get_column("h"))
    edges = link_accounts(with_exit_pools(indicators, settings.rotation), settings)
    assert set(edges.get_column("a")) | set(edges.get_column("b")) == {f"bought-{a}" for a in range(12)}
    assert link_accounts(indicators, settings).is_empty()
    assert flagged_pools(_flagged(_indicators(world), {"bought-0", "bought-1"}), settings.rotation).is_empty()
    assert flagged_pools(_indicators(world), settings.rotation).is_empty()  # nobody known to be flagged


def _harness_world() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], set[str]]:
    """A campaign of 10 members on its own harness, and who else is seen with it or rotates: addresses and clients
    per account, and the accounts that rotate."""
    addresses: dict[str, dict[str, float]] = {}
    clients: dict[str, dict[str, float]] = {}
    for m in range(10):
        addresses[f"member-{m}"] = {f"exit-{m}-{k}": 0.25 for k in range(4)}
        clients[f"member-{m}"] = {"harness": 1.0}
    for b in range(4):  # each request from an exit of a pool of thousands: no address shared with anyone
        addresses[f"burner-{b}"] = {f"burner-exit-{b}-{k}": 0.25 for k in range(4)}
        clients[f"burner-{b}"] = {"harness": 1.0}
    addresses["two-requests"] = {"short-0": 0.5, "short-1": 0.5}  # two addresses prove little
    clients["two-requests"] = {"harness": 1.0}
    addresses["developer"] = {"home-line": 1.0}  # the same uncommon client from a home line, keeping its address
    clients["developer"] = {"harness": 1.0}
    addresses["mostly-browser"] = {f"vpn-{k}": 0.25 for k in range(4)}  # tried the harness once
    clients["mostly-browser"] = {"harness": 0.25, "browser": 0.75}
    for u in range(30):  # people rotating through a VPN's exits on the population's browser
        addresses[f"vpn-user-{u}"] = {f"vpn-{(u + k) % 8}": 0.25 for k in range(4)}
        clients[f"vpn-user-{u}"] = {"browser": 1.0}
    for u in range(1000):  # and the many who keep their home line
        addresses[f"home-user-{u}"], clients[f"home-user-{u}"] = {f"home-{u}": 1.0}, {"browser": 1.0}
    rotating = {a for a in addresses if a.startswith(("burner", "two-requests", "mostly-browser", "vpn-user"))}
    return addresses, clients, rotating


def test_rotating_burners_on_a_campaigns_own_client_join_it_and_people_on_it_or_rotating_do_not() -> None:
    """Burners sharing no address with anyone join by the campaign's harness; a developer running it from a home line,
    an account seen at two addresses, one that used it once, and VPN users rotating on a browser do not."""
    addresses, clients, rotating = _harness_world()
    indicators = _rotating(_indicators(addresses, clients), rotating)
    settings = load_campaign_settings().cluster
    campaign = {"CMP-1": [f"member-{m}" for m in range(10)]}
    burners = [f"burner-{b}" for b in range(4)]
    assert harness_members(campaign, indicators, settings).joining == {"CMP-1": burners}
    assert pool_members(campaign, indicators, settings) == {}
    assert harness_members(campaign, indicators, settings, joined=["burner-0"]).joining == {"CMP-1": burners[1:]}
    assert harness_members(campaign, replace(indicators, rotating=None), settings).joining == {}  # rotation unknown
    assert harness_members({}, indicators, settings).joining == {}
    # a client most of whose users are not the campaign's is no harness: an SDK's default
    for k in range(11):
        addresses[f"sdk-user-{k}"], clients[f"sdk-user-{k}"] = {f"desk-{k}": 1.0}, {"harness": 1.0}
    assert harness_members(campaign, _rotating(_indicators(addresses, clients), rotating), settings).joining == {}


def test_a_librarys_rotating_users_join_the_fleet_that_is_most_of_its_users_only_beyond_chance() -> None:
    """A fleet of 30 is most of a popular library's users; of its 20 other users, people, one rotates, as 3 % of
    everyone does: no one joins. Four burners on it make its rotating users more than chance gives: all five join."""
    addresses, clients, _ = _harness_world()
    for m in range(10, 30):
        addresses[f"member-{m}"], clients[f"member-{m}"] = {f"exit-{m}-{k}": 0.25 for k in range(4)}, {"harness": 1.0}
    for k in range(20):
        addresses[f"library-user-{k}"], clients[f"library-user-{k}"] = {f"desk-{k}": 1.0}, {"harness": 1.0}
    addresses["library-user-0"] = {f"phone-{k}": 0.25 for k in range(4)}
    for name in ("two-requests", "developer", "mostly-browser", *(f"burner-{b}" for b in range(4))):
        del addresses[name], clients[name]
    settings = load_campaign_settings().cluster
    campaign = {"CMP-1": [f"member-{m}" for m in range(30)]}
    people = _rotating(_indicators(addresses, clients), {"library-user-0", *(f"vpn-user-{u}" for u in range(30))})
    assert harness_members(campaign, people, settings).joining == {}
    for b in range(4):
        addresses[f"burner-{b}"] = {f"burner-exit-{b}-{k}": 0.25 for k in range(4)}
        clients[f"burner-{b}"] = {"harness": 1.0}
    burned = _rotating(_indicators(addresses, clients),
                       {"library-user-0", *(f"vpn-user-{u}" for u in range(30)), *(f"burner-{b}" for b in range(4))})
    assert harness_members(campaign, burned, settings).joining == {
        "CMP-1": sorted(["library-user-0", *(f"burner-{b}" for b in range(4))])}


def test_harness_burners_are_fully_tied_and_the_campaign_says_why_apart_from_pool_burners() -> None:
    """A campaign gains burners through its exits and through its harness, each with its evidence, an account that
    qualifies for both counted once."""
    addresses, clients, rotating = _harness_world()
    pool_burner = {f"exit-{m}-0": 0.25 for m in range(4)}  # through four of the campaign's exits, on its harness
    for m in range(4):
        addresses[f"member-{m + 4}"][f"exit-{m}-0"] = 0.25  # each of those exits shared by two members
    addresses["pool-burner"], clients["pool-burner"] = pool_burner, {"harness": 1.0}
    indicators = _rotating(_indicators(addresses, clients), rotating | {"pool-burner"})
    members = [f"member-{m}" for m in range(10)]
    camp = Campaign("CMP-1", members, 0.95, 0.9, [Evidence("account.cot_elicitation", 0.9, "asks")])
    result = CampaignResult([camp], dict.fromkeys(members, "CMP-1"), dict.fromkeys(members, 0.8))
    add_pool_members(result, indicators, load_campaign_settings().cluster)
    burners = [f"burner-{b}" for b in range(4)]
    assert camp.members == sorted([*members, "pool-burner", *burners])
    assert all(result.campaign_of[b] == "CMP-1" and result.tie[b] == 1.0 for b in [*burners, "pool-burner"])
    assert [e.detector for e in camp.evidence[:2]] == ["campaign.pool_members", "campaign.harness_members"]
    assert "1 accounts" in camp.evidence[0].reason and "4 accounts" in camp.evidence[1].reason
    assert camp.confidence == pytest.approx(0.95 * (10 * 0.8 + 5 * 1.0) / 15)


def test_members_rotating_on_their_campaigns_harness_are_fully_tied_and_others_keep_their_tie() -> None:
    """A member tied by one ordinary edge that rotates on the campaign's harness is as tied as a burner joining by it;
    one keeping its address, or rotating on a browser, keeps its tie."""
    addresses, clients, rotating = _harness_world()
    clients["member-9"] = {"harness": 0.25, "browser": 0.75}
    members = [f"member-{m}" for m in range(10)]
    indicators = _rotating(_indicators(addresses, clients), rotating | {f"member-{m}" for m in (0, 1, 9)})
    assert sorted(harness_members({"CMP-1": members}, indicators, load_campaign_settings().cluster).tied) == [
        "member-0", "member-1"]
    camp = Campaign("CMP-1", members, 0.9, 0.9, [Evidence("account.cot_elicitation", 0.9, "asks")])
    result = CampaignResult([camp], dict.fromkeys(members, "CMP-1"), dict.fromkeys(members, 0.6))
    add_pool_members(result, indicators, load_campaign_settings().cluster)
    assert [result.tie[f"member-{m}"] for m in (0, 1, 2, 9)] == [1.0, 1.0, 0.6, 0.6]
    assert camp.confidence == pytest.approx(0.9 * (2 * 1.0 + 8 * 0.6 + 4 * 1.0) / 14)  # and four burners joined


def test_a_fleet_rotating_through_many_clients_has_no_harness_even_where_it_is_most_of_a_browsers_users() -> None:
    """Eight accounts each spoofing two of eight agents: each agent is shown by a quarter of them, and by more of them
    than of anyone else; a person rotating through a VPN on those browsers does not join."""
    addresses = {f"rotor-{k}": {f"rotor-exit-{k}-{j}": 0.25 for j in range(4)} for k in range(8)}
    clients = {f"rotor-{k}": {f"agent-{k}": 0.5, f"agent-{(k + 1) % 8}": 0.5} for k in range(8)}
    addresses["student"], clients["student"] = {f"vpn-{k}": 0.25 for k in range(4)}, {"agent-0": 1.0}
    indicators = _rotating(_indicators(addresses, clients), set(addresses))
    campaign = {"CMP-2": [f"rotor-{k}" for k in range(8)]}
    settings = load_campaign_settings().cluster
    assert harness_members(campaign, indicators, settings).joining == {}
    clients["student"] = {"agent-0": 0.5, "agent-1": 0.5}
    assert harness_members(campaign, _rotating(_indicators(addresses, clients), set(addresses)), settings).joining == {}
    for k in range(8):
        clients[f"rotor-{k}"]["agent-0"] = 0.25  # now every rotor runs agent-0 too: the fleet's harness
    assert harness_members(campaign, _rotating(_indicators(addresses, clients), set(addresses)), settings).joining == {
        "CMP-2": ["student"]}


AGENTS = [f"agent-{k} | stack-x" for k in range(6)]
"""The operator's spoofed client: popular agents it rotates, over a TLS stack none of them ships."""


def _resident_world() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """A campaign of 12 accounts, each keeping one exit of a residential pool of 4 and spoofing two of the operator's
    agents; the burners and the people seen at its exits or on its clients: addresses and clients per account."""
    addresses: dict[str, dict[str, float]] = {}
    clients: dict[str, dict[str, float]] = {}
    for m in range(12):
        addresses[f"member-{m}"] = {f"resi-{m % 4}": 1.0}
        clients[f"member-{m}"] = {AGENTS[m % 6]: 0.5, AGENTS[(m + 1) % 6]: 0.5}
    for b in range(3):  # a handful of requests, one exit, one or two agents: linked to no one
        addresses[f"burner-{b}"] = {f"resi-{b}": 1.0}
        clients[f"burner-{b}"] = {AGENTS[(b + 3) % 6]: 1.0} if b else {AGENTS[2]: 0.6, "browser": 0.4}
    addresses["household"] = {"resi-1": 1.0}  # a home line the proxy network also routes through
    clients["household"] = {"browser": 1.0}
    addresses["developer"] = {"home-line": 1.0}  # the agent and stack the operator spoofs, from its own line
    clients["developer"] = {AGENTS[0]: 1.0}
    addresses["visitor"] = {"resi-2": 0.4, "office": 0.6}  # mostly elsewhere
    clients["visitor"] = {AGENTS[1]: 1.0}
    for u in range(30):  # phone users at a carrier NAT two members also leave through
        addresses[f"phone-{u}"], clients[f"phone-{u}"] = {"nat": 1.0}, {"phone-app": 1.0}
    for m in range(2):
        addresses[f"member-{m}"] = {f"resi-{m % 4}": 0.5, "nat": 0.5}
    for u in range(200):
        addresses[f"home-user-{u}"], clients[f"home-user-{u}"] = {f"home-{u}": 1.0}, {"browser": 1.0}
    return addresses, clients


def test_burners_keeping_one_of_a_campaigns_exits_on_its_clients_join_it_and_people_using_one_of_the_two_do_not(
) -> None:
    """Neither rotating nor seen at several exits, burners join by the campaign's exits and clients together; a
    household at one of its exits on a browser, a developer on its client at home, one mostly elsewhere, and phone
    users at a carrier NAT it shares do not."""
    addresses, clients = _resident_world()
    indicators = _indicators(addresses, clients)
    settings = load_campaign_settings().cluster
    campaign = {"CMP-1": [f"member-{m}" for m in range(12)]}
    burners = [f"burner-{b}" for b in range(3)]
    assert infrastructure_users(campaign, indicators, settings).joining == {"CMP-1": burners}
    assert infrastructure_users(campaign, _rotating(indicators, set()), settings).joining == {"CMP-1": burners}
    assert pool_members(campaign, indicators, settings) == {}
    assert harness_members(campaign, _rotating(indicators, set(addresses)), settings).joining == {}  # the agents rotate
    assert infrastructure_users(campaign, indicators, settings, joined=["burner-1"]).joining == {"CMP-1": ["burner-0",
                                                                                                     "burner-2"]}
    assert infrastructure_users({}, indicators, settings) == ({}, [])
    for k in range(30):  # an exit most of whose accounts are people is not the campaign's
        addresses[f"neighbour-{k}"], clients[f"neighbour-{k}"] = {"resi-0": 1.0}, {"browser": 1.0}
    assert infrastructure_users(campaign, _indicators(addresses, clients), settings).joining == {"CMP-1": burners[1:]}


def test_people_at_a_fleets_exits_on_the_library_it_dominates_join_only_beyond_chance() -> None:
    """A fleet of 30 is most of the accounts at a VPN's four exits and most of a library's users; of the ten people
    at those exits one uses the library, as 5 % of everyone does: no one joins. Five burners there on it make its
    users at the exits more than chance gives: all six join."""
    addresses = {f"member-{m}": {f"vpn-{m % 4}": 1.0} for m in range(30)}
    clients = {f"member-{m}": {"library": 1.0} for m in range(30)}
    for u in range(10):
        addresses[f"vpn-user-{u}"], clients[f"vpn-user-{u}"] = {f"vpn-{u % 4}": 1.0}, {"library" if u == 0 else
                                                                                       "browser": 1.0}
    for u in range(200):
        addresses[f"home-user-{u}"], clients[f"home-user-{u}"] = {f"home-{u}": 1.0}, {"library" if u % 20 == 0 else
                                                                                      "browser": 1.0}
    campaign = {"CMP-1": [f"member-{m}" for m in range(30)]}
    settings = load_campaign_settings().cluster
    assert infrastructure_users(campaign, _indicators(addresses, clients), settings).joining == {}
    for b in range(5):
        addresses[f"burner-{b}"], clients[f"burner-{b}"] = {f"vpn-{b % 4}": 1.0}, {"library": 1.0}
    assert infrastructure_users(campaign, _indicators(addresses, clients), settings).joining == {
        "CMP-1": sorted(["vpn-user-0", *(f"burner-{b}" for b in range(5))])}


def test_a_burner_on_two_campaigns_infrastructure_joins_the_one_whose_clients_it_runs() -> None:
    """Two fleets sharing a proxy pool, each on a harness of its own: the burner mostly at the first's exits runs
    the second's harness."""
    addresses, clients = _resident_world()
    for m in range(6):
        addresses[f"other-{m}"], clients[f"other-{m}"] = {f"dc-{m % 2}": 1.0}, {"other-harness": 1.0}
    addresses["burner-0"], clients["burner-0"] = {"resi-0": 0.7, "dc-0": 0.3}, {AGENTS[0]: 0.3, "other-harness": 0.7}
    campaigns = {"CMP-1": [f"member-{m}" for m in range(12)], "CMP-2": [f"other-{m}" for m in range(6)]}
    found = infrastructure_users(campaigns, _indicators(addresses, clients), load_campaign_settings().cluster).joining
    assert found == {"CMP-1": ["burner-1", "burner-2"], "CMP-2": ["burner-0"]}


def test_infrastructure_burners_are_fully_tied_and_the_campaign_says_why() -> None:
    addresses, clients = _resident_world()
    members = [f"member-{m}" for m in range(12)]
    camp = Campaign("CMP-1", members, 0.9, 0.9, [Evidence("account.cot_elicitation", 0.9, "asks")])
    result = CampaignResult([camp], dict.fromkeys(members, "CMP-1"), dict.fromkeys(members, 1.0))
    add_pool_members(result, _indicators(addresses, clients), load_campaign_settings().cluster)
    assert camp.members == sorted([*members, "burner-0", "burner-1", "burner-2"])
    assert all(result.campaign_of[f"burner-{b}"] == "CMP-1" and result.tie[f"burner-{b}"] == 1.0 for b in range(3))
    assert camp.evidence[0].detector == "campaign.infrastructure_members" and "3 accounts" in camp.evidence[0].reason
    assert not {"household", "developer", "visitor", "phone-0"} & set(result.campaign_of)


def test_a_weakly_tied_member_on_its_campaigns_exits_and_clients_is_fully_tied_and_others_keep_their_tie() -> None:
    """A member tied by one ordinary edge that uses the campaign's exits and clients is as tied as a burner joining by
    them; one on a browser at home keeps its tie, and the campaign's confidence counts the change."""
    addresses, clients = _resident_world()
    addresses["member-5"], clients["member-5"] = {"home-5": 1.0}, {"browser": 1.0}
    members = [f"member-{m}" for m in range(12)]
    assert sorted(infrastructure_users({"CMP-1": members}, _indicators(addresses, clients),
                                       load_campaign_settings().cluster).tied) == sorted(set(members) - {"member-5"})
    del addresses["burner-0"], addresses["burner-1"], addresses["burner-2"]
    camp = Campaign("CMP-1", sorted(members), 0.9, 0.9, [Evidence("account.cot_elicitation", 0.9, "asks")])
    ties = dict.fromkeys(members, 1.0) | {"member-3": 0.5, "member-5": 0.5}
    result = CampaignResult([camp], dict.fromkeys(members, "CMP-1"), ties)
    add_pool_members(result, _indicators(addresses, clients), load_campaign_settings().cluster)
    assert camp.members == sorted(members) and len(camp.evidence) == 1
    assert result.tie["member-3"] == 1.0 and result.tie["member-5"] == 0.5
    assert camp.confidence == pytest.approx(0.9 * (11 + 0.5) / 12)


def _young(indicators: Indicators, names: set[str]) -> Indicators:
    return replace(indicators, young=np.array([name in names for name in indicators.accounts.to_list()]))


def _cohort_world(new_people: int, old_people: int) -> tuple[Indicators, list[str]]:
    """A campaign of 12 on its operator's agents; four new resellers relaying chat from lines of their own on one
    agent each, a developer on one at home, people on the agents (``new_people`` new, ``old_people`` not), and 200
    people on a browser, one in twenty of them new: the indicators (new accounts marked) and the campaign."""
    addresses, clients = {}, {}
    for m in range(12):
        addresses[f"member-{m}"], clients[f"member-{m}"] = {f"resi-{m % 4}": 1.0}, {AGENTS[m % 6]: 1.0}
    for r in range(4):
        addresses[f"reseller-{r}"], clients[f"reseller-{r}"] = {f"line-{r}": 1.0}, {AGENTS[r]: 1.0}
    addresses["developer"], clients["developer"] = {"home-line": 1.0}, {AGENTS[0]: 1.0}
    people = [f"person-{p}" for p in range(new_people + old_people)]
    for p, person in enumerate(people):
        addresses[person], clients[person] = {f"home-p{p}": 1.0}, {AGENTS[p % 6]: 1.0}
    for u in range(200):
        addresses[f"home-user-{u}"], clients[f"home-user-{u}"] = {f"home-{u}": 1.0}, {"browser": 1.0}
    new = {f"reseller-{r}" for r in range(4)} | set(people[:new_people]) | {f"home-user-{u}" for u in range(0, 200, 20)}
    return _young(_indicators(addresses, clients), new), [f"member-{m}" for m in range(12)]


def test_new_resellers_on_a_campaigns_clients_join_it_and_established_users_of_them_do_not() -> None:
    """Four new accounts on the operator's agents, each from a line of its own, are most of the agents' users outside
    the campaign, far more than one in twenty: they join, and the developer on one of them does not."""
    indicators, members = _cohort_world(0, 0)
    settings = load_campaign_settings().cluster
    resellers = [f"reseller-{r}" for r in range(4)]
    assert cohort_users({"CMP-1": members}, indicators, settings) == {"CMP-1": resellers}
    assert cohort_users({"CMP-1": members}, indicators, settings, joined=["reseller-0"]) == {"CMP-1": resellers[1:]}
    assert cohort_users({"CMP-1": members}, replace(indicators, young=None), settings) == {}  # youth unknown
    assert cohort_users({}, indicators, settings) == {}
    assert infrastructure_users({"CMP-1": members}, indicators, settings).joining == {}  # their exits are their own


def test_new_users_of_a_campaigns_clients_join_only_where_they_are_most_of_its_other_users_beyond_chance() -> None:
    """New accounts among many established people on the agents are people (4 + 2 of 13 users); where the new are
    half of everyone, four of five users of the agents being new is chance."""
    settings = load_campaign_settings().cluster
    indicators, members = _cohort_world(2, 6)
    assert cohort_users({"CMP-1": members}, indicators, settings) == {}
    indicators, members = _cohort_world(0, 0)
    names = indicators.accounts.to_list()
    half = np.array([name.startswith("reseller") or (name.startswith("home-user") and int(name.split("-")[-1]) % 2 == 0)
                     for name in names])
    assert cohort_users({"CMP-1": members}, replace(indicators, young=half), settings) == {}


def test_cohort_burners_are_fully_tied_and_the_campaign_says_why() -> None:
    indicators, members = _cohort_world(0, 0)
    camp = Campaign("CMP-1", members, 0.9, 0.9, [Evidence("account.cot_elicitation", 0.9, "asks")])
    result = CampaignResult([camp], dict.fromkeys(members, "CMP-1"), dict.fromkeys(members, 1.0))
    add_pool_members(result, indicators, load_campaign_settings().cluster)
    assert camp.members == sorted([*members, *(f"reseller-{r}" for r in range(4))])
    assert all(result.campaign_of[f"reseller-{r}"] == "CMP-1" and result.tie[f"reseller-{r}"] == 1.0 for r in range(4))
    assert camp.evidence[0].detector == "campaign.cohort_members" and "4 new accounts" in camp.evidence[0].reason
    assert "developer" not in result.campaign_of


@run(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=25), st.integers(2, 8))
def test_cohort_users_are_new_and_on_clients_the_campaign_holds(accounts: list[tuple[int, bool]], size: int) -> None:
    """Whoever joins is a new account outside the campaign on a client at least half of whose accounts (two or
    more) are members, counted here directly; a campaign takes all such accounts or none."""
    clients = {f"a-{k}": {f"client-{c}": 1.0} for k, (c, _) in enumerate(accounts)}
    addresses = {name: {f"home-{name}": 1.0} for name in clients}
    members = sorted(clients)[:size]
    new = {f"a-{k}" for k, (_, young) in enumerate(accounts) if young}
    found = cohort_users({"CMP-1": members}, _young(_indicators(addresses, clients), new),
                         load_campaign_settings().cluster)

    def held(value: str) -> bool:
        holders = [a for a, values in clients.items() if value in values]
        inside = sum(a in members for a in holders)
        return inside >= 2 and inside >= 0.5 * len(holders)

    expected = sorted(a for a in new - set(members) if held(next(iter(clients[a]))))
    assert found in ({}, {"CMP-1": expected}) if expected else found == {}


@run(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from([0.2, 0.5, 1.0])), min_size=1,
                max_size=25), st.integers(2, 6))
def test_infrastructure_users_each_send_half_their_traffic_through_exits_and_clients_the_campaign_owns(
        accounts: list[tuple[int, int, float]], size: int) -> None:
    """Whoever joins is outside the campaign, and sends at least half its traffic through exits and with clients
    at least half of whose accounts (two or more) are members, counted here directly; where no account away from
    its exits uses its clients, every such account joins."""
    addresses = {f"a-{k}": {f"exit-{e}": x, "own-exit": 1 - x} if x < 1 else {f"exit-{e}": 1.0}
                 for k, (e, _, x) in enumerate(accounts)}
    clients = {f"a-{k}": {f"client-{c}": 1.0} for k, (_, c, _) in enumerate(accounts)}
    members = sorted(addresses)[:size]
    found = infrastructure_users({"CMP-1": members}, _indicators(addresses, clients),
                                 load_campaign_settings().cluster).joining

    def owned(shown: dict[str, dict[str, float]], value: str) -> bool:
        holders = [a for a, values in shown.items() if value in values]
        inside = sum(a in members for a in holders)
        return inside >= 2 and inside >= 0.5 * len(holders)

    def share(shown: dict[str, dict[str, float]], account: str) -> float:
        return sum(x for v, x in shown[account].items() if owned(shown, v))

    outside = [a for a in addresses if a not in members]
    expected = sorted(a for a in outside if share(addresses, a) >= 0.5 and share(clients, a) >= 0.5)
    assert set(found.get("CMP-1", [])) <= set(expected) and set(found) <= {"CMP-1"}
    if not any(share(addresses, a) < 0.5 and share(clients, a) >= 0.5 for a in outside):
        assert found == ({"CMP-1": expected} if expected else {})


@run(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sets(st.integers(0, 7), min_size=1, max_size=5), st.booleans(), st.booleans()),
                min_size=1, max_size=25), st.integers(2, 8))
def test_pool_members_send_half_their_traffic_through_exits_the_campaigns_hold(
        accounts: list[tuple[set[int], bool, bool]], size: int) -> None:
    """Whoever joins is outside both campaigns, rotates or harvests, and sends at least half its traffic through
    three or more exits at least half of whose accounts (two or more) are members of either, counted here directly;
    every such account joins one of them."""
    addresses = {f"a-{k}": {f"exit-{e}": 1 / len(exits) for e in exits} for k, (exits, _, _) in enumerate(accounts)}
    names = sorted(addresses)
    campaigns = {"CMP-1": names[:size:2], "CMP-2": names[1:size:2]}
    indicators = _indicators(addresses)
    flags = {f"a-{k}": (rotates, harvests) for k, (_, rotates, harvests) in enumerate(accounts)}
    order = indicators.accounts.to_list()
    indicators = replace(indicators, rotating=np.array([flags[a][0] for a in order]),
                         harvesting=np.array([flags[a][1] for a in order]))
    found = pool_members({cid: m for cid, m in campaigns.items() if m}, indicators, load_campaign_settings().cluster)
    inside = {a for m in campaigns.values() for a in m}

    def held(value: str) -> bool:
        holders = [a for a, values in addresses.items() if value in values]
        members = sum(a in inside for a in holders)
        return members >= 2 and members >= 0.5 * len(holders)

    expected = sorted(a for a in addresses if a not in inside and any(flags[a])
                      and sum(held(v) for v in addresses[a]) >= 3
                      and sum(x for v, x in addresses[a].items() if held(v)) >= 0.5)
    assert sorted(a for joined in found.values() for a in joined) == expected
