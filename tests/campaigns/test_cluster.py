from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from distillguard.accounts import AccountStats, IpIntel, Origin, score_accounts
from distillguard.accounts.risk import POPULATION_COLUMNS, RiskModels, default_weights
from distillguard.campaigns import Indicators, cluster, find_campaigns, propagate
from distillguard.campaigns.cluster import (
    Campaign,
    absorb_fragments,
    merge_campaigns,
    merge_operations,
    merge_pools,
    pool_cells,
    pooled_features,
    score_groups,
)
from distillguard.campaigns.communities import Communities
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.core.campaign import ONE_CUSTOMER_DETECTORS, ONE_DOMAIN_DETECTOR, ONE_PAYER_DETECTOR
from distillguard.core.schema import TS_TYPE
from distillguard.policy import load_policy

T0 = datetime(2026, 3, 2, tzinfo=UTC)
FLAG_RISK = load_policy().flag_threshold
SETTINGS = load_campaign_settings().cluster


def _traffic(prefix: str, n_accounts: int, per_account: int, harvester: bool) -> pa.Table:
    rows = []
    for a in range(n_accounts):
        for k in range(per_account):
            rows.append({
                "account_id": f"{prefix}-{a}",
                "ts": T0 + timedelta(hours=(a + 5 * k) % 72, minutes=k),
                "ip": f"100.{a}.{k}.1" if harvester else f"81.2.{a}.1",
                "user_agent": "ua", "tls_ja4": "t13d",
                "n_user_turns": 1 if harvester else 3,
                "n_tool_results": 0,
                "cot_score": 0.95 if harvester else 0.05, "prompt_cot_score": 0.95 if harvester else 0.05,
                "reasoning_requested": 1.0 if harvester else 0.0,
                "capability": "reasoning" if harvester else "general",
                "template_key": 7 if harvester else 1000 + k,
                "prompt_hash": hash((prefix, a, k)) & (2**63 - 1),
                "reasoning_share": 0.8 if harvester else 0.0,
                "output_len": 900 if harvester else 150, "has_tool_calls": False,
            })
    table = pa.Table.from_pylist(rows)
    return table.set_column(1, "ts", table.column("ts").cast(TS_TYPE))


def _clique(prefix: str, n: int, weight: float) -> list[dict]:
    return [{"a": f"{prefix}-{i}", "b": f"{prefix}-{j}", "weight": weight,
             "families": ["payment=1.0", "client=0.8"], "strong": True} for i in range(n) for j in range(i + 1, n)]


def test_low_volume_harvesters_are_flagged_with_their_campaign_and_a_benign_cluster_is_not() -> None:
    stats = AccountStats()
    stats.update(_traffic("op", 40, 6, harvester=True))
    stats.update(_traffic("team", 40, 6, harvester=False))
    edges = pl.DataFrame(_clique("op", 40, 0.9) + _clique("team", 40, 0.9))
    result = find_campaigns(edges, stats, min_risk=FLAG_RISK)
    assert len(result.campaigns) == 1
    campaign = result.campaigns[0]
    assert set(campaign.members) == {f"op-{i}" for i in range(40)}
    assert campaign.risk > 0.9 and campaign.evidence

    features = stats.get()
    ids = features.column("account_id").to_pylist()
    own, _ = score_accounts(features)
    risk = propagate(ids, own, result)
    ops = np.array([i.startswith("op") for i in ids])
    assert own[ops].max() < 0.7  # six requests each: no account is flagged on its own
    assert risk[ops].min() > 0.8  # ... but every one is with its campaign
    assert np.array_equal(risk[~ops], own[~ops])


def test_weakly_tied_account_keeps_its_own_risk() -> None:
    stats = AccountStats()
    stats.update(_traffic("op", 20, 6, harvester=True))
    stats.update(_traffic("bystander", 1, 6, harvester=False))
    edges = pl.DataFrame(_clique("op", 20, 0.9) + [
        {"a": "bystander-0", "b": "op-3", "weight": 0.3, "families": ["network=0.3", "client=0.3"], "strong": False}])
    result = find_campaigns(edges, stats, min_risk=FLAG_RISK)
    features = stats.get()
    ids = features.column("account_id").to_pylist()
    own, _ = score_accounts(features)
    risk = propagate(ids, own, result)
    i = ids.index("bystander-0")
    assert risk[i] < 0.7


def test_one_shared_card_ties_an_account_to_its_campaign_one_alike_client_does_not() -> None:
    """At a ``full_tie`` of 1.5 an edge of weight 1 ties a member by two thirds, below the flag, unless it is
    strong: a payment fingerprint shared with a member is the same operator, not software or exits alike."""
    stats = AccountStats()
    stats.update(_traffic("op", 20, 6, harvester=True))
    stats.update(_traffic("card", 1, 6, harvester=False))
    stats.update(_traffic("alike", 1, 6, harvester=False))
    ring = [{"a": f"op-{i}", "b": f"op-{(i + d) % 20}", "weight": 1.0, "families": ["payment=1.0"], "strong": True}
            for i in range(20) for d in (1, 5)]
    edges = pl.DataFrame(ring + [
        {"a": "card-0", "b": "op-3", "weight": 1.0, "families": ["payment=1.0"], "strong": True},
        {"a": "alike-0", "b": "op-5", "weight": 1.0, "families": ["client=1.0", "behaviour=0.8"], "strong": False}])
    settings = SETTINGS.model_copy(update={"full_tie": 1.5})
    result = find_campaigns(edges, stats, settings=settings, min_risk=FLAG_RISK)
    assert result.campaign_of["card-0"] == result.campaign_of["op-3"]
    assert result.campaign_of["alike-0"] == result.campaign_of["op-5"]
    assert result.tie["card-0"] == 1.0 and result.tie["op-3"] == 1.0
    assert result.tie["alike-0"] == pytest.approx(1 / 1.5)
    features = stats.get()
    ids = features.column("account_id").to_pylist()
    risk = propagate(ids, score_accounts(features)[0], result)
    assert risk[ids.index("card-0")] >= FLAG_RISK > risk[ids.index("alike-0")]


def test_two_harvesters_on_one_card_are_scored_pooled_two_alike_or_two_chatting_are_not() -> None:
    """Two accounts on one card are one payer: each asks for too few traces to be flagged alone, pooled they are
    a campaign. Two as alike in client and request parameters, but paying apart, stay below ``min_accounts``;
    two ordinary users on one card are scored pooled too, and are no campaign."""
    stats = AccountStats()
    stats.update(_traffic("card", 2, 10, harvester=True))
    stats.update(_traffic("alike", 2, 10, harvester=True))
    stats.update(_traffic("chat", 2, 10, harvester=False))
    edges = pl.DataFrame([
        {"a": "card-1", "b": "card-0", "weight": 1.0, "families": ["payment=1.0"], "strong": True},
        {"a": "alike-0", "b": "alike-1", "weight": 1.0, "families": ["client=1.0", "behaviour=0.8"], "strong": False},
        {"a": "chat-0", "b": "chat-1", "weight": 1.0, "families": ["payment=1.0"], "strong": True}])
    result = find_campaigns(edges, stats, min_risk=FLAG_RISK)
    assert [sorted(c.members) for c in result.campaigns] == [["card-0", "card-1"]]
    assert result.campaigns[0].risk >= FLAG_RISK and result.tie["card-0"] == 1.0
    features = stats.get()
    ids = features.column("account_id").to_pylist()
    own, _ = score_accounts(features)
    risk = propagate(ids, own, result)
    assert max(own) < FLAG_RISK <= min(risk[ids.index("card-0")], risk[ids.index("card-1")])


def _fleet_traffic(rotating: bool) -> tuple[pa.Table, Indicators]:
    """Six two-account cells of one fleet drawing clients from one pool (a new one per request when
    ``rotating``); two rotating loners with pools of their own, who also use the client of a team; three
    legitimate teams, each keeping its client, one team member also using a client of the fleet's pool."""
    rows = []
    for cell in range(6):
        for member in range(2):
            for k in range(2):
                rows.append((f"cell{cell}-{member}", f"pool-{(3 * cell + 2 * member + k * rotating) % 8}", True))
    for loner in range(2):
        rows += [(f"loner{loner}-{m}", f"own-{loner}-{m}-{k}", True) for m in range(2) for k in range(2)]
        rows.append((f"loner{loner}-0", "team-client-0", True))
    for team in range(3):
        rows += [(f"team{team}-{m}", f"team-client-{team}", False) for m in range(3) for k in range(4)]
    rows.append(("team0-0", "pool-1", False))
    table = pa.Table.from_pylist([{
        "account_id": account, "ts": T0 + timedelta(minutes=7 * n), "ip": f"100.{n}.0.1", "user_agent": client,
        "tls_ja4": "t13d", "n_user_turns": 1, "n_tool_results": 0, "cot_score": 0.95 if fleet else 0.05,
        "prompt_cot_score": 0.95 if fleet else 0.05,
        "reasoning_requested": 1.0 if fleet else 0.0, "capability": "reasoning", "template_key": n,
        "prompt_hash": n, "reasoning_share": 0.8 if fleet else 0.0, "output_len": 900, "has_tool_calls": False,
    } for n, (account, client, fleet) in enumerate(rows)])
    table = table.set_column(1, "ts", table.column("ts").cast(TS_TYPE))
    accounts = sorted({a for a, _, _ in rows})
    code = {a: i for i, a in enumerate(accounts)}
    shown = pl.DataFrame({"i": [code[a] for a, _, _ in rows], "h": [hash(c) & (2**63 - 1) for _, c, _ in rows]})
    indicators = shown.group_by("i", "h").len().select(
        pl.col("i").cast(pl.UInt32), pl.lit("client").alias("family"), pl.lit("client").alias("kind"),
        pl.col("h").cast(pl.UInt64), (pl.col("len") / pl.col("len").sum().over("i")).cast(pl.Float32).alias("x"))
    return table, Indicators(pl.Series("account_id", accounts), indicators)


@pytest.mark.parametrize("rotating", [True, False])
def test_cells_rotating_through_one_client_pool_are_merged_and_others_are_not(rotating: bool) -> None:
    traffic, indicators = _fleet_traffic(rotating)
    stats = AccountStats()
    stats.update(traffic)
    cells = {f"c{k}": [f"cell{k}-0", f"cell{k}-1"] for k in range(6)}
    cells.update({f"l{k}": [f"loner{k}-0", f"loner{k}-1"] for k in range(2)})
    cells.update({f"t{k}": [f"team{k}-{m}" for m in range(3)] for k in range(3)})
    fleets = merge_pools(cells, stats, indicators, SETTINGS)
    fleet = sorted(a for k in range(6) for a in cells[f"c{k}"])
    # rotating cells share their pool; the loners share only a team's client, the teams rotate nothing
    assert [f.members for f in fleets.values()] == ([fleet] if rotating else [])
    if rotating:
        assert next(iter(fleets.values())).reason == "6 linked groups rotate through one shared pool of clients"


def _exit_pool_traffic() -> tuple[pa.Table, Indicators]:
    """Four two-account cells, each keeping its client, every request from another of eight exits."""
    rows = [(f"cell{c}-{m}", f"client-{c}", f"198.51.100.{(3 * c + 2 * m + k) % 8}")
            for c in range(4) for m in range(2) for k in range(2)]
    table = pa.Table.from_pylist([{
        "account_id": account, "ts": T0 + timedelta(minutes=7 * n), "ip": ip, "user_agent": client,
        "tls_ja4": "t13d", "n_user_turns": 1, "n_tool_results": 0, "cot_score": 0.95,
        "prompt_cot_score": 0.95, "reasoning_requested": 1.0,
        "capability": "reasoning", "template_key": n, "prompt_hash": n, "reasoning_share": 0.8, "output_len": 900,
        "has_tool_calls": False,
    } for n, (account, client, ip) in enumerate(rows)])
    table = table.set_column(1, "ts", table.column("ts").cast(TS_TYPE))
    accounts = sorted({a for a, _, _ in rows})
    code = {a: i for i, a in enumerate(accounts)}
    shown = pl.DataFrame([(code[a], kind, value) for a, client, ip in rows
                          for kind, value in (("client", client), ("ip", ip), ("subnet", "198.51.100.0/24"))],
                         schema=["i", "kind", "value"], orient="row")
    indicators = shown.group_by("i", "kind", "value").len().select(
        pl.col("i").cast(pl.UInt32), pl.col("kind").replace({"ip": "network", "subnet": "network"}).alias("family"),
        "kind", pl.col("value").hash().alias("h"),
        (pl.col("len") / pl.col("len").sum().over("i", "kind")).cast(pl.Float32).alias("x"))
    return table, Indicators(pl.Series("account_id", accounts), indicators)


@pytest.mark.parametrize("datacenter", [True, False])
def test_cells_rotating_through_datacenter_exits_are_merged_and_residential_ones_are_not(datacenter: bool) -> None:
    traffic, indicators = _exit_pool_traffic()
    exits = {f"198.51.100.{k}": Origin.DATACENTER for k in range(8)} if datacenter else {}
    stats = AccountStats(IpIntel(exact=exits))
    stats.update(traffic)
    cells = {f"c{k}": [f"cell{k}-0", f"cell{k}-1"] for k in range(4)}
    fleets = merge_pools(cells, stats, indicators, SETTINGS)
    # residential exits are rented by unrelated operations from one proxy network: no pool
    assert [f.members for f in fleets.values()] == ([sorted(a for m in cells.values() for a in m)] if datacenter else [])
    if datacenter:
        assert next(iter(fleets.values())).reason == "4 linked groups rotate through one shared pool of datacenter exits"


@pytest.mark.parametrize(("verification", "age_days", "rotating", "customer"), [
    ("business", 400, 0, True), ("email", 400, 0, False), ("business", 20, 0, False), ("business", 400, 6, True),
    ("business", 400, 7, False)])
def test_one_verified_established_organisation_is_a_customer_not_a_campaign(
        verification: str, age_days: int, rotating: int, customer: bool) -> None:
    """Twelve verified, established seats on one card are one customer; not when unverified, new, or when most of
    them take a new address for nearly every request (bought accounts behind a proxy pool, not an office's egress)."""
    stats = AccountStats()
    stats.update(_traffic("org", 12, 6, harvester=True))
    ids = [f"org-{a}" for a in range(12)]
    context = pa.table({
        "account_id": ids, "category": ["enterprise"] * 12, "verification": [verification] * 12,
        "created_at": pa.array([T0 - timedelta(days=age_days)] * 12, pa.timestamp("us", tz="UTC")),
    })
    card = pl.DataFrame({"i": list(range(12)), "family": ["payment"] * 12, "kind": ["payment"] * 12,
                         "h": [99] * 12, "x": [1.0] * 12}, schema={"i": pl.UInt32, "family": pl.String,
                                                                  "kind": pl.String, "h": pl.UInt64, "x": pl.Float32})
    indicators = Indicators(pl.Series("account_id", ids), card, rotating=np.arange(12) < rotating)
    result = find_campaigns(pl.DataFrame(_clique("org", 12, 0.9)), stats, context, indicators=indicators,
                            min_risk=FLAG_RISK)
    assert (result.campaigns == []) is customer
    assert not customer or result.campaign_of == {}


@pytest.mark.parametrize(("domains", "others", "customer"), [
    (["lab.example"] * 11 + ["gmail.com"], 0, True), (["LAB.example"] * 6 + ["lab.example"] * 6, 0, True),
    (["uni.example"] * 12, 30, True), ([None] * 12, 0, True), (["gmail.com", "orange.fr", "free.fr"] * 4, 0, False),
    (["gmail.com"] * 6 + ["orange.fr"] * 3 + [None] * 3, 0, False)])
def test_verified_established_seats_on_one_card_are_one_customer_only_on_one_mail_domain(
        domains: list[str | None], others: int, customer: bool) -> None:
    """An organisation's seats sign up on its domain (one outside address allowed), which ``others`` unrelated
    accounts may share (a university lab's: on the first seat's domain); bought, aged accounts an operator pools on
    its card keep their owners' addresses at the population's mail providers. Seats whose domain is not on record
    are not counted either way."""
    stats = AccountStats()
    stats.update(_traffic("org", 12, 6, harvester=True))
    ids = [f"org-{a}" for a in range(12)]
    outside = [f"user-{a}" for a in range(others)]
    context = pa.table({
        "account_id": ids + outside, "category": ["research"] * 12 + ["individual"] * others,
        "verification": ["id_document"] * 12 + ["email"] * others,
        "created_at": pa.array([T0 - timedelta(days=400)] * (12 + others), pa.timestamp("us", tz="UTC")),
        "email_domain": pa.array(domains + domains[:1] * others, pa.string()),
    })
    card = pl.DataFrame({"i": list(range(12)), "family": ["payment"] * 12, "kind": ["payment"] * 12,
                         "h": [99] * 12, "x": [1.0] * 12}, schema={"i": pl.UInt32, "family": pl.String,
                                                                  "kind": pl.String, "h": pl.UInt64, "x": pl.Float32})
    result = find_campaigns(pl.DataFrame(_clique("org", 12, 0.9)), stats, context,
                            indicators=Indicators(pl.Series("account_id", ids), card), min_risk=FLAG_RISK)
    assert (result.campaigns == []) is customer
    if not customer:
        [campaign] = result.campaigns
        assert len(campaign.members) == 12 and not campaign.one_customer


def test_cells_of_verified_accounts_paying_with_their_own_cards_but_linked_together_are_a_campaign() -> None:
    """An operator of bought, verified, aged accounts gives each cell a card: linked cells are not one customer."""
    stats = AccountStats()
    stats.update(_traffic("cell", 24, 6, harvester=True))
    ids = [f"cell-{a}" for a in range(24)]
    context = pa.table({
        "account_id": ids, "category": ["enterprise"] * 24, "verification": ["id_document"] * 24,
        "created_at": pa.array([T0 - timedelta(days=400)] * 24, pa.timestamp("us", tz="UTC")),
    })
    card = pl.DataFrame({"i": list(range(24)), "family": ["payment"] * 24, "kind": ["payment"] * 24,
                         "h": [98] * 12 + [99] * 12, "x": [1.0] * 24},
                        schema={"i": pl.UInt32, "family": pl.String, "kind": pl.String, "h": pl.UInt64, "x": pl.Float32})
    indicators = Indicators(pl.Series("account_id", ids), card)
    first = [{**e, "a": e["a"].replace("x-", "cell-"), "b": e["b"].replace("x-", "cell-")} for e in _clique("x", 12, 0.9)]
    second = [{"a": f"cell-{12 + int(e['a'][2:])}", "b": f"cell-{12 + int(e['b'][2:])}", "weight": e["weight"],
               "families": e["families"], "strong": e["strong"]} for e in _clique("x", 12, 0.9)]
    across = [{"a": f"cell-{k}", "b": f"cell-{12 + k}", "weight": 0.3, "families": ["behaviour=0.6", "client=0.5"],
               "strong": False}
              for k in range(3)]
    result = find_campaigns(pl.DataFrame(first + second + across), stats, context, indicators=indicators,
                            min_risk=FLAG_RISK)
    assert result.campaigns
    assert len(result.campaign_of) == 24


def test_campaign_lists_its_linking_families_most_edges_first() -> None:
    stats = AccountStats()
    stats.update(_traffic("op", 12, 6, harvester=True))
    names = ["payment", "network", "client", "behaviour", "device"]
    edges = [{"a": f"op-{i}", "b": f"op-{j}", "weight": 0.9, "strong": True,
              "families": [f"{name}=1.0" for k, name in enumerate(names) if (i + j) % (k + 1) == 0 or k == 0]}
             for i in range(12) for j in range(i + 1, 12)]
    campaign = find_campaigns(pl.DataFrame(edges), stats, min_risk=FLAG_RISK).campaigns[0]
    counted = list(campaign.families.items())
    assert [name for name, _ in counted] == [name for name, _ in sorted(counted, key=lambda kv: (-kv[1], kv[0]))]
    assert len(counted) == len(names)


@pytest.mark.parametrize("clients", ["the population's browsers", "a pool of their own"])
def test_two_fleets_on_the_populations_browsers_are_not_merged_two_on_one_pool_are(clients: str) -> None:
    """Two fleets of 30 accounts, each account on two of ten browser strings that 200 ordinary users show in the
    same mix, or on two of a pool of ten clients only the fleets use."""
    accounts, rows = [], []
    for prefix, count in (("a", 30), ("b", 30), ("user", 200)):
        for k in range(count):
            i = len(accounts)
            accounts.append(f"{prefix}-{k}")
            pool = "pool" if prefix != "user" and clients == "a pool of their own" else "browser"
            rows += [{"i": i, "h": hash(f"{pool}-{(i + j) % 10}") & (2**63 - 1), "x": 0.5} for j in (0, 3)]
    indicators = Indicators(pl.Series("account_id", accounts), pl.DataFrame(rows).select(
        pl.col("i").cast(pl.UInt32), pl.lit("client").alias("family"), pl.lit("client").alias("kind"),
        pl.col("h").cast(pl.UInt64), pl.col("x").cast(pl.Float32)))
    groups = {"A": accounts[:30], "B": accounts[30:60]}
    merged = merge_campaigns(groups, indicators, SETTINGS)
    assert len(merged) == (2 if clients == "the population's browsers" else 1)


def _clients(holders: dict[str, list[str]]) -> Indicators:
    """Client indicators: each client string with the accounts showing it (each account's strings equally)."""
    accounts = sorted({a for members in holders.values() for a in members})
    code = {a: i for i, a in enumerate(accounts)}
    rows = pl.DataFrame([(code[a], hash(client) & (2**63 - 1)) for client, members in holders.items() for a in members],
                        schema={"i": pl.UInt32, "h": pl.UInt64}, orient="row")
    table = rows.with_columns(pl.lit("client").alias("family"), pl.lit("client").alias("kind"),
                              (1.0 / pl.len().over("i")).cast(pl.Float32).alias("x")).select("i", "family", "kind", "h", "x")
    return Indicators(pl.Series("account_id", accounts), table)


def _links(pairs: list[tuple[str, str]], families: list[str]) -> list[dict]:
    return [{"a": a, "b": b, "weight": 0.9, "families": families, "strong": False} for a, b in pairs]


@pytest.mark.parametrize("client", ["their own", "the population's browser"])
def test_harvesters_linked_only_by_what_the_population_shares_are_no_campaign(client: str) -> None:
    """Twelve harvesters linked by a client string and request parameters: a campaign when the string is theirs,
    none when forty ordinary users, linked to no one, show it too."""
    stats = AccountStats()
    stats.update(_traffic("op", 12, 6, harvester=True))
    crew = [f"op-{i}" for i in range(12)]
    crowd = [f"user-{i}" for i in range(40)]
    holders = {"fleet-client": crew, "browser": crowd} if client == "their own" else {"browser": crew + crowd}
    edges = pl.DataFrame(_links([(a, b) for k, a in enumerate(crew) for b in crew[k + 1:]],
                                ["client=1.0", "behaviour=0.7"]))
    result = find_campaigns(edges, stats, indicators=_clients(holders), min_risk=FLAG_RISK)
    assert len(result.campaigns) == (1 if client == "their own" else 0)


def test_ordinary_users_linked_to_a_fleet_by_a_popular_browser_are_not_its_members() -> None:
    stats = AccountStats()
    stats.update(_traffic("op", 12, 6, harvester=True))
    stats.update(_traffic("user", 3, 6, harvester=False))
    crew = [f"op-{i}" for i in range(12)]
    users = [f"user-{i}" for i in range(3)]
    crowd = [f"crowd-{i}" for i in range(40)]
    holders = {"fleet-client": crew, "browser": crew[:2] + users + crowd}
    edges = pl.DataFrame(_links([(a, b) for k, a in enumerate(crew) for b in crew[k + 1:]], ["client=1.0"])
                         + _links([(u, crew[k % 2]) for k, u in enumerate(users)], ["client=1.0", "behaviour=0.8"]))
    result = find_campaigns(edges, stats, indicators=_clients(holders), min_risk=FLAG_RISK)
    assert [sorted(c.members) for c in result.campaigns] == [sorted(crew)]
    assert not set(users) & set(result.campaign_of)
    ids = stats.get().column("account_id").to_pylist()
    risk = propagate(ids, np.zeros(len(ids)), result)
    assert all(risk[ids.index(u)] == 0.0 for u in users)


LAB = [f"lab-{a}" for a in range(6)] + ["out-0"]
"""Six harvesting seats of one lab and an ordinary account."""


def _lab_campaign(cards: list[int], domains: list[str | None] | None, linked: bool, rotates: bool) -> Campaign:
    """The one campaign :data:`LAB`'s seats (research accounts on email, 20 days old, a clique) form: the accounts
    paying with ``cards`` and on ``domains`` (none on record when None), ``out-0`` linked to ``lab-0`` when
    ``linked``, the seats taking a new address for nearly every request when ``rotates``."""
    stats = AccountStats()
    stats.update(_traffic("lab", 6, 8, harvester=True))
    stats.update(_traffic("out", 1, 8, harvester=False))
    columns = {"account_id": LAB, "category": ["research"] * 7, "verification": ["email"] * 7,
               "created_at": pa.array([T0 - timedelta(days=20)] * 7, pa.timestamp("us", tz="UTC"))}
    if domains is not None:
        columns["email_domain"] = pa.array(domains, pa.string())
    table = pl.DataFrame({"i": list(range(7)), "family": ["payment"] * 7, "kind": ["payment"] * 7, "h": cards,
                          "x": [1.0] * 7}, schema={"i": pl.UInt32, "family": pl.String, "kind": pl.String,
                                                   "h": pl.UInt64, "x": pl.Float32})
    edges = _clique("lab", 6, 0.9)
    if linked:
        edges += _links([("lab-0", "out-0")], ["network=0.6", "behaviour=0.5"])
    rotating = np.array([rotates and a.startswith("lab") for a in LAB])
    result = find_campaigns(pl.DataFrame(edges), stats, pa.table(columns), min_risk=FLAG_RISK,
                            indicators=Indicators(pl.Series("account_id", LAB), table, rotating=rotating))
    [campaign] = result.campaigns
    assert set(LAB[:6]) <= set(campaign.members)
    return campaign


@pytest.mark.parametrize("other", ["none", "a seat on another card", "a link to another payer", "rotating seats"])
def test_an_unverified_team_on_one_card_is_a_campaign_marked_one_customer(other: str) -> None:
    """Six harvesting seats of one unverified lab on one card: a campaign (no standing to dissolve it) marked as one
    payer, whose members the policy then judges by their standing; not when a seat pays otherwise, when the
    team links to an account paying otherwise (an operator's cells), or when its seats take a new address for
    nearly every request (a fleet behind a proxy pool, not a lab's egress)."""
    cards = [7] * 5 + [8 if other == "a seat on another card" else 7, 9]
    campaign = _lab_campaign(cards, None, other == "a link to another payer", other == "rotating seats")
    assert campaign.one_customer is (other == "none")
    assert any(e.detector == ONE_PAYER_DETECTOR for e in campaign.evidence) is (other == "none")


@pytest.mark.parametrize(("other", "one"), [
    ("none", True), ("a link to a student on the university's domain", True), ("a public mail provider", False),
    ("a link to another domain", False), ("two seats with no domain on record", False), ("rotating seats", False)])
def test_a_team_on_its_organisations_domain_is_a_campaign_marked_one_customer(other: str, one: bool) -> None:
    """Six harvesting seats of one lab, each paying with its own card, on the lab's university domain: a campaign
    marked one organisation's, whose members the policy then judges by their standing; not on a public provider's
    domain (bought accounts), when it links to an account on another domain, when too few seats have the domain on
    record, or when its seats take a new address for nearly every request."""
    lab = "gmail.com" if other == "a public mail provider" else "cs.uni-example.edu"
    domains: list[str | None] = [lab] * 6 + [lab if "student" in other else "elsewhere.example"]
    if other == "two seats with no domain on record":
        domains[:2] = [None, None]
    campaign = _lab_campaign(list(range(10, 17)), domains, "link" in other, other == "rotating seats")
    assert campaign.one_customer is one
    found = [e for e in campaign.evidence if e.detector in ONE_CUSTOMER_DETECTORS]
    assert [e.detector for e in found] == ([ONE_DOMAIN_DETECTOR] if one else [])
    assert all("cs.uni-example.edu" in e.reason for e in found)


FLEET = (("fleet-client", "browser"), ("fleet-params", "common-params"))
"""What a fleet shows: a client and request parameters of its own, and the population's browser and parameters."""
POPULATION = (("browser",), ("common-params",))


def _showing(groups: dict[str, tuple[int, tuple[tuple[str, ...], tuple[str, ...]]]]
             ) -> tuple[Indicators, dict[str, list[str]]]:
    """Client and request-parameter indicators of accounts ``<name>-<k>``: per name, how many and which clients and
    parameters each shows (its weight split evenly in each family); and the accounts by name."""
    accounts: list[str] = []
    rows: list[tuple[int, str, str]] = []
    members: dict[str, list[str]] = {}
    for prefix, (count, (clients, params)) in groups.items():
        for k in range(count):
            members.setdefault(prefix, []).append(f"{prefix}-{k}")
            rows += [(len(accounts), "client", c) for c in clients] + [(len(accounts), "behaviour", p) for p in params]
            accounts.append(f"{prefix}-{k}")
    table = pl.DataFrame(rows, schema={"i": pl.UInt32, "family": pl.String, "value": pl.String}, orient="row")
    table = table.select("i", "family", pl.col("family").replace({"behaviour": "params"}).alias("kind"),
                         pl.col("value").hash().alias("h"), (1.0 / pl.len().over("i", "family")).cast(pl.Float32).alias("x"))
    return Indicators(pl.Series("account_id", accounts), table), members


def test_a_fleets_fragments_join_it_and_groups_sharing_only_the_populations_habits_do_not() -> None:
    """A risky fleet of 30 accounts on a client and request parameters of its own, plus the population's browser and
    parameters. A fragment of 8 showing the same joins it; 8 students on the population's browser and parameters
    (as 200 users in no group) agree with the fleet as far as ``merge_min`` in both families, but resemble everyone
    more, and stay; a cell on the fleet's client with parameters of its own agrees in one family only, and stays."""
    indicators, members = _showing({
        "fleet": (30, FLEET), "fragment": (8, FLEET), "students": (8, POPULATION),
        "cell": (8, (("fleet-client", "browser"), ("cell-params",))), "user": (200, POPULATION),
    })
    rest = {name: members[name] for name in ("fragment", "students", "cell")}
    assert absorb_fragments({"fleet": members["fleet"]}, rest, indicators, SETTINGS) == {"fleet": ["fragment"]}
    assert absorb_fragments({"fleet": members["fleet"]}, {}, indicators, SETTINGS) == {}


def _communities(groups: dict[str, list[str]]) -> Communities:
    """Communities that are ``groups`` (accounts named ``<group>-<k>``), each its own cell."""
    index = {a: i for i, a in enumerate(m for members in groups.values() for m in members)}
    return Communities(index, np.array([list(groups).index(a.split("-")[0]) for a in index]),
                       np.zeros(len(index)), np.zeros(len(index), bool), dict(groups))


@pytest.mark.parametrize("block", [1, 1024])
def test_cells_of_one_fleet_too_small_to_be_flagged_alone_are_pooled_and_a_customers_seats_are_not(
        block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four cells of 3 low-volume harvesters, each paying with its own card, on one client and parameters: none is
    risky alone, pooled they are, and they become one campaign. Two cells of a company's seats on a client of their
    own agree as much, but pooled are no risk, so they stay apart; students on the population's habits join no one.
    Compared one cell at a time (``block`` 1) the cells pool the same."""
    monkeypatch.setattr(cluster, "_POOL_BLOCK", block)
    stats = AccountStats()
    for k in range(4):
        stats.update(_traffic(f"crew{k}", 3, 3, harvester=True))
    for name in ("seats", "desk"):
        stats.update(_traffic(name, 4, 6, harvester=False))
    stats.update(_traffic("students", 4, 6, harvester=False))
    company = (("corp-client", "browser"), ("corp-params", "common-params"))
    indicators, members = _showing({**{f"crew{k}": (3, FLEET) for k in range(4)}, "seats": (4, company),
                                    "desk": (4, company), "students": (4, POPULATION), "user": (300, POPULATION)})
    groups = {name: members[name] for name in (*(f"crew{k}" for k in range(4)), "seats", "desk", "students")}
    scored = score_groups(stats, groups, None)
    assert scored.risky(FLAG_RISK) == {}
    assert list(pool_cells({}, groups, stats, None, indicators, SETTINGS, FLAG_RISK).values()) == [
        [f"crew{k}" for k in range(4)]]
    communities = _communities(groups)
    merged = merge_operations(communities, scored, stats, None, indicators, SETTINGS, FLAG_RISK)
    crews = sorted(m for k in range(4) for m in members[f"crew{k}"])
    assert list(merged.risky(FLAG_RISK).values()) == [crews]
    assert {name: members[name] for name in ("seats", "desk", "students")}.items() <= merged.groups.items()
    assert len({communities.community([m]) for m in crews}) == 1


@pytest.mark.parametrize("domains", [None, "one each", "one for all", "a public provider"])
def test_organisations_agreeing_only_in_their_harness_are_not_one_operation(domains: str | None) -> None:
    """The four cells of the test above, each a clique of seats, are pooled into one campaign by their client and
    parameters; not when each is an organisation on a domain of its own (labs running one public benchmark through
    one harness), whatever else they agree in. On one domain, on a public provider's or with no domain on record,
    they are pooled as before."""
    stats = AccountStats()
    for k in range(4):
        stats.update(_traffic(f"crew{k}", 3, 3, harvester=True))
    indicators, members = _showing({**{f"crew{k}": (3, FLEET) for k in range(4)}, "user": (300, POPULATION)})
    groups = {f"crew{k}": members[f"crew{k}"] for k in range(4)}
    seats = [a for k in range(4) for a in groups[f"crew{k}"]]
    on = {None: None, "one each": [f"lab{k}.example.edu" for k in range(4)], "one for all": ["lab.example.edu"] * 4,
          "a public provider": ["gmail.com"] * 4}[domains]
    columns = {"account_id": seats, "category": ["research"] * 12, "verification": ["email"] * 12,
               "created_at": pa.array([T0 - timedelta(days=200)] * 12, pa.timestamp("us", tz="UTC"))}
    if on is not None:
        columns["email_domain"] = [on[int(a[4])] for a in seats]
    edges = pl.DataFrame([e for k in range(4) for e in _clique(f"crew{k}", 3, 0.9)])
    context = pa.table(columns)
    merged = merge_operations(_communities(groups), score_groups(stats, groups, context), stats, context, indicators,
                              SETTINGS, FLAG_RISK, edges=edges)
    assert list(merged.risky(FLAG_RISK).values()) == ([] if domains == "one each" else [sorted(seats)])


def test_an_organisations_group_is_no_fragment_of_another_organisations_campaign() -> None:
    """A fragment that agrees with a fleet in client and parameters joins it, unless both are organisations' groups
    on different domains; on one domain, or where only one of them is an organisation's, it joins. Two halves of a
    fleet on a client and parameters of their own merge, unless they are two organisations'."""
    own = (("fleet-client",), ("fleet-params",))
    indicators, members = _showing({"fleet": (30, FLEET), "fragment": (8, FLEET), "a": (10, own), "b": (10, own),
                                    "user": (200, POPULATION)})
    risky, rest = {"fleet": members["fleet"]}, {"fragment": members["fragment"]}
    assert absorb_fragments(risky, rest, indicators, SETTINGS, {"fleet": "a.example", "fragment": "b.example"}) == {}
    for domains in ({"fleet": "a.example", "fragment": "a.example"}, {"fragment": "b.example"}, None):
        assert absorb_fragments(risky, rest, indicators, SETTINGS, domains) == {"fleet": ["fragment"]}
    halves = {"a": members["a"], "b": members["b"]}
    assert len(merge_campaigns(halves, indicators, SETTINGS)) == 1
    assert merge_campaigns(halves, indicators, SETTINGS, domains={"a": "a.example", "b": "b.example"}) == halves


@pytest.mark.parametrize("chat", [False, True])
def test_a_campaign_takes_its_fragments_unless_they_take_it_below_the_flag_threshold(chat: bool) -> None:
    """A risky fleet of 6 harvesters and a fragment of 3 low-volume harvesters on its client and parameters: one
    campaign, scored again. Add as a fragment 60 ordinary users asking one-shot questions on the same (a reseller's
    resold chat): pooled with them it would fall below the threshold, so it is scored without any fragment, and
    they stay groups of their own."""
    stats = AccountStats()
    stats.update(_traffic("op", 6, 4, harvester=True))
    stats.update(_traffic("crew", 3, 2, harvester=True))
    resold = _traffic("chat", 60, 6, harvester=False)
    stats.update(resold.set_column(resold.schema.get_field_index("n_user_turns"), "n_user_turns",
                                   pa.array([1] * resold.num_rows)))
    indicators, members = _showing({"op": (6, FLEET), "crew": (3, FLEET), "chat": (60, FLEET),
                                     "user": (300, POPULATION)})
    groups = {name: members[name] for name in ("op", "crew", *(("chat",) if chat else ()))}
    scored = score_groups(stats, groups, None)
    assert scored.risky(FLAG_RISK) == {"op": members["op"]}
    communities = _communities(groups)
    merged = merge_operations(communities, scored, stats, None, indicators, SETTINGS, FLAG_RISK)
    risky = merged.risky(FLAG_RISK)
    if chat:
        assert merged.groups == groups and risky == {"op": members["op"]}
    else:
        assert list(risky.values()) == [sorted(members["op"] + members["crew"])]
        assert communities.community(members["op"]) == communities.community(members["crew"])


def _population(ids: list[str], n: list[int], share: list[float | None]) -> pa.Table:
    """Accounts' records (individuals, email-verified), exchanges and population signals: ``share`` in each one."""
    return pa.table({"account_id": ids, "category": ["individual"] * len(ids), "verification": ["email"] * len(ids),
                     "created_at": pa.array([T0 - timedelta(days=1)] * len(ids), pa.timestamp("us", tz="UTC")),
                     "n_exchanges": pa.array(n, pa.int64()),
                     **{c: pa.array(share, pa.float64()) for c in POPULATION_COLUMNS}})


def test_a_group_carries_its_members_population_signals_weighted_by_their_exchanges() -> None:
    stats = AccountStats()
    stats.update(_traffic("op", 4, 6, harvester=True))
    groups = {"g": ["op-0", "op-1"], "lacking": ["op-2"], "unknown": ["op-3"]}
    accounts = _population(["op-0", "op-1", "op-2"], [100, 300, 50], [0.0, 1.0, None])
    pooled = pooled_features(stats, groups, accounts)
    assert pooled.column("n_accounts").to_pylist() == [2, 1, 1]
    for name in POPULATION_COLUMNS:
        assert pooled.column(name).to_pylist() == [0.75, None, None]
    assert not set(POPULATION_COLUMNS) & set(pooled_features(stats, groups, None).column_names)


def test_a_group_is_scored_on_its_members_spoofed_clients() -> None:
    """Members that claim a client their TLS stack does not go with raise their group's risk under weights that
    count it."""
    stats = AccountStats()
    stats.update(_traffic("op", 6, 6, harvester=False))
    groups = {"g": [f"op-{i}" for i in range(6)]}
    base = default_weights("campaign")
    weights = base.model_copy(update={"weights": {**base.weights, "client_mismatch": 6.0}})
    models = RiskModels(account=weights, campaign=weights)
    ids = [f"op-{i}" for i in range(6)]
    honest = _population(ids, [6] * 6, [0.0] * 6)
    spoofed = honest.set_column(honest.column_names.index("client_mismatch_share"), "client_mismatch_share",
                                pa.array([1.0] * 6, pa.float64()))
    risk_spoofed = score_groups(stats, groups, spoofed, models).risk
    risk_honest = score_groups(stats, groups, honest, models).risk
    assert risk_spoofed[0] > risk_honest[0] + 0.1


def test_pooled_context_takes_the_modal_category_and_verification_and_the_median_creation() -> None:
    """Of equal counts the first member's value wins; an account the context lacks counts as null; the median of an
    even count of creation times is the upper one, and a group with none has none."""
    day = datetime(2026, 1, 1, tzinfo=UTC)
    context = pa.table({
        "account_id": ["a", "b", "c", "d"],
        "category": ["research", "education", "education", None],
        "verification": ["email", "phone", "email", None],
        "created_at": pa.array([day, day + timedelta(days=2), day + timedelta(days=1), None], pa.timestamp("us", tz="UTC")),
    })
    groups = {"g1": ["a", "b", "c"], "g2": ["b", "a"], "g3": ["d", "ghost", "a"], "g4": ["d"]}
    assert cluster.pooled_context(context, groups).to_pylist() == [
        {"category": "education", "verification": "email", "created_at": day + timedelta(days=1)},
        {"category": "education", "verification": "phone", "created_at": day + timedelta(days=2)},
        {"category": None, "verification": None, "created_at": day},
        {"category": None, "verification": None, "created_at": None},
    ]
    assert cluster.pooled_context(None, groups) is None
    assert cluster.pooled_context(context, {}).num_rows == 0
