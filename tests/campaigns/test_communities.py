"""Operators renting one proxy pool are told apart by what else their accounts share; one operator's fleet held
together by its pool alone stays whole."""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl
import pytest

from distillguard.campaigns import load_campaign_settings
from distillguard.campaigns.cluster import merge_campaigns
from distillguard.campaigns.communities import detect_communities, split_shared_pools
from distillguard.campaigns.indicators import Indicators, compact_indicators

SETTINGS = load_campaign_settings().cluster


def _pool_edges(names: list[str], rng: np.random.Generator) -> list[dict]:
    """Each account linked to a few random others by the pool they rotate through, and by nothing else."""
    edges = []
    for k, name in enumerate(names):
        for other in rng.choice(len(names), 4, replace=False):
            if other != k:
                edges.append({"a": name, "b": names[other], "families": ["rotation=1.0"]})
    return edges


def _own_edges(members: list[str], family: str, rng: np.random.Generator, degree: int = 5) -> list[dict]:
    """Each member linked to a few random fellow members by ``family`` (its pool too)."""
    edges = []
    for k, name in enumerate(members):
        for other in rng.choice(len(members), degree, replace=False):
            if other != k:
                edges.append({"a": name, "b": members[other], "families": ["rotation=1.0", f"{family}=0.8"]})
    return edges


def _frame(edges: list[dict]) -> pl.DataFrame:
    """Edges as :func:`~distillguard.campaigns.edges.link_accounts` gives them: one row per pair, the last kept."""
    rows = {tuple(sorted((e["a"], e["b"]))): e["families"] for e in edges}
    return pl.DataFrame([
        {"a": a, "b": b, "families": fs, "strong": True,
         "weight": 1.0 - float(np.prod([1.0 - float(f.split("=")[1]) for f in fs]))}
        for (a, b), fs in sorted(rows.items())
    ], schema={"a": pl.String, "b": pl.String, "weight": pl.Float64, "families": pl.List(pl.String), "strong": pl.Boolean})


def _clients(clients: dict[str, str], population: int = 200) -> Indicators:
    """Each account's one client, beside ``population`` ordinary accounts on a few popular ones."""
    names = [*clients, *(f"user-{u}" for u in range(population))]
    values = [*clients.values(), *(f"browser-{u % 4}" for u in range(population))]
    table = compact_indicators(pl.DataFrame({
        "i": pl.Series(range(len(names)), dtype=pl.UInt32), "kind": ["client"] * len(names),
        "h": pl.Series([zlib.crc32(v.encode()) for v in values], dtype=pl.UInt64), "x": [1.0] * len(names)}))
    return Indicators(pl.Series(names), table)


def _split(edges: pl.DataFrame, indicators: Indicators) -> list[list[str]]:
    communities = detect_communities(edges, SETTINGS.seed, SETTINGS.resolution)
    assert len(communities.cells) == 1  # the pool holds them together
    split = split_shared_pools(communities, edges, SETTINGS,
                               lambda parts: merge_campaigns(parts, indicators, SETTINGS, SETTINGS.split.families))
    groups = sorted(split.cells.values(), key=len, reverse=True)
    for members in groups:
        assert all(split.strength[split.index[m]] > 0 for m in members)
    return groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_operators_renting_one_pool_are_told_apart_by_their_own_clients(seed: int) -> None:
    rng = np.random.default_rng(seed)
    harvester = [f"harvester-{k}" for k in range(60)]
    mimic = [f"mimic-{k}" for k in range(25)]
    edges = _frame([*_pool_edges(harvester + mimic, rng), *_own_edges(harvester, "client", rng),
                    *_own_edges(mimic, "behaviour", rng)])
    indicators = _clients({**{a: f"sdk-{k % 3}" for k, a in enumerate(harvester)},
                           **{a: f"spoofed-{k % 5}" for k, a in enumerate(mimic)}})
    assert _split(edges, indicators) == [sorted(harvester), sorted(mimic)]


def test_two_parts_on_the_same_rare_clients_are_one_operator() -> None:
    rng = np.random.default_rng(0)
    left, right = [f"left-{k}" for k in range(60)], [f"right-{k}" for k in range(40)]
    edges = _frame([*_pool_edges(left + right, rng), *_own_edges(left, "behaviour", rng),
                    *_own_edges(right, "behaviour", rng)])
    indicators = _clients({a: f"sdk-{k % 3}" for k, a in enumerate(left + right)})
    assert _split(edges, indicators) == [sorted(left + right)]


def test_a_fleet_that_shares_nothing_but_its_pool_beyond_cards_of_three_stays_whole() -> None:
    rng = np.random.default_rng(0)
    fleet = [f"bought-{k}" for k in range(120)]
    cells = [{"a": fleet[k], "b": fleet[k + d], "families": ["rotation=1.0", "payment=1.0"]}
             for k in range(0, 120, 3) for d in (1, 2)]
    edges = _frame([*_pool_edges(fleet, rng), *cells])
    indicators = _clients({a: f"browser-{k % 4}" for k, a in enumerate(fleet)})
    assert _split(edges, indicators) == [sorted(fleet)]


def test_communities_without_a_pool_are_left_as_they_are() -> None:
    rng = np.random.default_rng(0)
    team = [f"team-{k}" for k in range(30)]
    edges = _frame([{**e, "families": e["families"][1:]} for e in _own_edges(team, "client", rng)])
    communities = detect_communities(edges, SETTINGS.seed, SETTINGS.resolution)
    unchanged = split_shared_pools(communities, edges, SETTINGS, lambda parts: pytest.fail("no pool, no parts"))
    assert unchanged is communities


@pytest.mark.parametrize("seed", [0, 1])
def test_a_cut_through_one_operators_fleet_is_no_second_operator(seed: int) -> None:
    rng = np.random.default_rng(seed)
    left, right = [f"cell-a-{k}" for k in range(60)], [f"cell-b-{k}" for k in range(60)]
    across = [{"a": x, "b": right[k], "families": ["rotation=1.0", "behaviour=0.8"]}
              for x in left for k in rng.choice(len(right), 1)]
    edges = _frame([*_pool_edges(left + right, rng), *_own_edges(left, "behaviour", rng),
                    *_own_edges(right, "behaviour", rng), *across])
    indicators = _clients({a: f"browser-{k % 4}" for k, a in enumerate(left + right)})
    assert _split(edges, indicators) == [sorted(left + right)]
