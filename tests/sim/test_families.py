from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import get_args

import pytest

from distillguard.core.errors import ConfigError
from distillguard.sim import simulate
from distillguard.sim.families import (
    ATTACK_FAMILIES,
    BACKGROUND,
    NEGATIVE_FAMILIES,
    family_scenario,
    split_names,
)
from distillguard.sim.populations.registry import POPULATIONS
from distillguard.sim.scenario import (
    ELICITATION_STYLES,
    Campaign,
    Population,
    Proxy,
    dump_scenario,
    parse_scenario,
)

from .conftest import read_jsonl

SEEDS = range(12)


@pytest.mark.parametrize("name", ATTACK_FAMILIES)
def test_attack_family_draws_valid_campaigns(name: str) -> None:
    for seed in SEEDS:
        scenario = family_scenario([name], [], seed=seed, campaigns_per_family=3)
        assert [c.id for c in scenario.campaigns] == [f"{name}-1", f"{name}-2", f"{name}-3"]
        for c in scenario.campaigns:
            assert isinstance(c, Campaign)
            assert c.family == name
            assert c.exchanges > 0 and c.accounts >= 1
            assert c.start_hour < scenario.duration_hours


@pytest.mark.parametrize("name", NEGATIVE_FAMILIES)
def test_negative_family_draws_valid_populations(name: str) -> None:
    for seed in SEEDS:
        scenario = family_scenario([], [name], seed=seed, background=0)
        (pop,) = scenario.populations
        assert pop.label == name and pop.family == name
        assert pop.exchanges > 0 and pop.accounts >= 1


def test_background_is_ordinary_chat() -> None:
    with_background = family_scenario([], ["tutoring"], seed=2)
    assert [p.label for p in with_background.populations] == ["tutoring", BACKGROUND]
    assert with_background.populations[1].kind == "individual"
    assert family_scenario([], ["tutoring"], seed=2, background=0).populations == with_background.populations[:1]


def test_attack_draws_cover_every_axis() -> None:
    campaigns = [c for seed in range(40) for c in family_scenario(list(ATTACK_FAMILIES), [], seed=seed,
                                                                   background=0).campaigns]
    assert {c.dispatch for c in campaigns} == {None, "round_robin", "random", "sticky", "bursty"}
    assert {c.timing for c in campaigns} == {"steady", "round_robin", "synchronized", "diurnal"}
    assert {c.proxy.kind for c in campaigns} == set(get_args(Proxy.model_fields["kind"].annotation))
    assert {c.identity for c in campaigns} == {"sdk", "spoofed", "rotating", "browser"}
    assert {c.signup.pattern for c in campaigns} == {"burst", "waves", "trickle", "aged", "bought"}
    assert {s for c in campaigns for s in c.elicitation} == set(ELICITATION_STYLES)
    assert {c.api_format for c in campaigns} == {"anthropic", "openai", "mixed"}
    blends = [c.blend_legit for c in campaigns]
    assert min(blends) == 0 and 0.5 < max(blends) <= 0.6
    sizes = [c.exchanges / c.accounts for c in campaigns]
    assert min(sizes) < 5 and max(sizes) > 3000
    assert any(c.pivot for c in campaigns) and any(c.account_lifetime_hours for c in campaigns)


def test_registries_name_their_families() -> None:
    for table in (ATTACK_FAMILIES, NEGATIVE_FAMILIES):
        for name, family in table.items():
            assert family.name == name
            assert family.description
    assert len(ATTACK_FAMILIES) >= 3 and len(NEGATIVE_FAMILIES) >= 3


def test_draws_depend_on_seed_and_family_only() -> None:
    attack, negatives = sorted(ATTACK_FAMILIES)[:3], sorted(NEGATIVE_FAMILIES)[:3]
    a = family_scenario(attack, negatives, seed=5)
    assert a == family_scenario(attack, negatives, seed=5)
    assert a != family_scenario(attack, negatives, seed=6)
    alone = family_scenario(attack[1:2], negatives[2:], seed=5)
    assert alone.campaigns == [c for c in a.campaigns if c.family == attack[1]]
    assert alone.populations == [p for p in a.populations if p.family in (negatives[2], BACKGROUND)]


def test_scale_grows_the_scenario() -> None:
    attack, negatives = list(ATTACK_FAMILIES), list(NEGATIVE_FAMILIES)
    small = family_scenario(attack, negatives, seed=1, scale=0.5)
    big = family_scenario(attack, negatives, seed=1, scale=2.0)
    assert big.expected_exchanges > 3 * small.expected_exchanges


def test_resolved_scenario_round_trips() -> None:
    import yaml

    s = family_scenario(list(ATTACK_FAMILIES), list(NEGATIVE_FAMILIES), seed=3)
    assert parse_scenario(yaml.safe_load(dump_scenario(s)), "dump") == s


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"attack": ["nope"], "negatives": []}, "unknown family nope"),
        ({"attack": [], "negatives": ["x", "y"]}, "unknown families x, y"),
        ({"attack": ["reasoning-harvest", "reasoning-harvest"], "negatives": []}, "named twice"),
        ({"attack": ["reasoning-harvest"], "negatives": [], "scale": 0}, "scale"),
        ({"attack": ["reasoning-harvest"], "negatives": [], "campaigns_per_family": 0}, "campaigns_per_family"),
    ],
)
def test_bad_family_arguments(kwargs: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        family_scenario(seed=0, **kwargs)


def test_split_names() -> None:
    assert split_names(None) == []
    assert split_names(" a, b,,c ") == ["a", "b", "c"]


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    attack, negatives = sorted(ATTACK_FAMILIES), sorted(NEGATIVE_FAMILIES)
    out = tmp_path_factory.mktemp("families")
    scenario = family_scenario(attack, negatives, seed=11, scale=0.15, campaigns_per_family=1, duration_hours=24)
    simulate(scenario, out, None)
    return out, attack, negatives


def test_labels_name_the_families(family_run: tuple[Path, list[str], list[str]]) -> None:
    out, attack, negatives = family_run
    labels = read_jsonl(out / "labels.jsonl")
    attack_families = Counter(r["family"] for r in labels if r["label"] == "attack")
    legit_families = Counter(r["family"] for r in labels if r["label"] == "legit")
    assert set(attack_families) == set(attack)
    assert set(legit_families) == {*negatives, BACKGROUND}
    for r in labels:
        if r["label"] == "attack":
            assert r["campaign"].startswith(r["family"] + "-") and r["population"] == "campaign"
        else:
            assert r["population"] == r["family"] and r["campaign"] is None


def test_family_scenario_is_deterministic(family_run: tuple[Path, list[str], list[str]], tmp_path: Path) -> None:
    out, attack, negatives = family_run
    scenario = family_scenario(attack, negatives, seed=11, scale=0.15, campaigns_per_family=1, duration_hours=24)
    simulate(scenario, tmp_path, None)
    for name in ("exchanges.jsonl", "accounts.jsonl", "labels.jsonl", "truth.json"):
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_every_population_kind_has_a_generator() -> None:
    kinds = {get_args(m)[0] for m in (c.model_fields["kind"].annotation for c in get_args(get_args(Population)[0]))}
    assert kinds == set(POPULATIONS)
