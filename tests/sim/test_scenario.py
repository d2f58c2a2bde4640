from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from distillguard.core.errors import ConfigError
from distillguard.sim import load_scenario
from distillguard.sim.scenario import BUILTIN_SCENARIOS, dump_scenario


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_builtin_scenarios_load(name: str) -> None:
    s = load_scenario(name)
    assert s.name == name
    assert s.expected_exchanges > 0
    kinds = {p.kind for p in s.populations}
    assert kinds == {"individual", "vpn_users", "students", "agentic_dev", "enterprise_batch", "benchmark_eval"}
    assert len(s.campaigns) >= (2 if name == "smoke" else 5)


def test_builtin_sizes() -> None:
    dev, large = load_scenario("dev"), load_scenario("large")
    assert 250_000 <= dev.expected_exchanges <= 350_000
    assert large.expected_exchanges == 16_000_000
    assert sum(c.accounts for c in large.campaigns) == 24_000
    assert any(c.accounts >= 20_000 and c.max_per_account and c.max_per_account < 50 for c in large.campaigns)


def _write(tmp_path: Path, data: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


BASE = {
    "name": "t",
    "duration_hours": 2,
    "populations": [{"kind": "individual", "accounts": 3, "exchanges": 10}],
    "campaigns": [{"id": "c1", "operator": "op", "accounts": 2, "exchanges": 10}],
}


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"campaigns": [{**BASE["campaigns"][0], "proxy": {"kind": "satellite"}}]}, "campaigns[0] (c1).proxy.kind"),
        ({"campaigns": [{**BASE["campaigns"][0], "accounts": 0}]}, "campaigns[0] (c1).accounts"),
        ({"campaigns": [{**BASE["campaigns"][0], "focus": {"poetry": 1}}]}, "campaigns[0] (c1).focus"),
        ({"campaigns": [{**BASE["campaigns"][0], "evasions": ["teleport"]}]}, "campaigns[0] (c1).evasions[0]"),
        ({"campaigns": [{**BASE["campaigns"][0], "surprise": 1}]}, "campaigns[0] (c1).surprise"),
        ({"campaigns": [{**BASE["campaigns"][0], "model": "nope"}]}, "unknown model 'nope'"),
        ({"campaigns": [{**BASE["campaigns"][0], "pivot": {"model": "ghost", "after_hours": 1}}]}, "pivot.model"),
        ({"campaigns": [BASE["campaigns"][0], BASE["campaigns"][0]]}, "duplicate campaign id"),
        ({"populations": [{"kind": "individual", "accounts": -1, "exchanges": 1}]}, "populations[0] (individual).accounts"),
        ({"populations": [{"kind": "martians", "accounts": 1, "exchanges": 1}]}, "populations[0]"),
        ({"duration_hours": 0}, "duration_hours"),
    ],
)
def test_validation_errors_name_file_and_field(tmp_path: Path, patch: dict, needle: str) -> None:
    path = _write(tmp_path, {**BASE, **patch})
    with pytest.raises(ConfigError) as err:
        load_scenario(str(path))
    assert str(path) in str(err.value)
    assert needle in str(err.value)


def test_pivot_before_release_is_rejected(tmp_path: Path) -> None:
    data = {
        **BASE,
        "models": [{"name": "atlas-2-pro"}, {"name": "atlas-2-fast"}, {"name": "new", "released_hour": 5}],
        "duration_hours": 10,
        "campaigns": [{**BASE["campaigns"][0], "pivot": {"model": "new", "after_hours": 1}}],
    }
    with pytest.raises(ConfigError, match="pivot before new is released"):
        load_scenario(str(_write(tmp_path, data)))


@pytest.mark.parametrize("text", ["[unclosed", "- just\n- a list\n"])
def test_bad_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_scenario(str(path))


def test_unknown_name_and_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such scenario"):
        load_scenario("nonexistent")
    with pytest.raises(ConfigError, match="not found"):
        load_scenario("/nonexistent/s.yaml")


def test_extends_overrides_fields_and_merges_by_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "extends": "smoke",
            "seed": 99,
            "duration_hours": 8,
            "populations": [{"kind": "individual", "accounts": 5}, {"kind": "students", "remove": True}],
            "campaigns": [
                {"id": "smoke-hydra", "accounts": 30, "proxy": {"kind": "tor"}},
                {"id": "new-one", "operator": "op-x", "accounts": 3, "exchanges": 30},
            ],
        },
    )
    s = load_scenario(str(path))
    base = load_scenario("smoke")
    assert (s.seed, s.duration_hours) == (99, 8)
    ind = next(p for p in s.populations if p.kind == "individual")
    assert ind.accounts == 5 and ind.exchanges == next(p for p in base.populations if p.kind == "individual").exchanges
    assert "students" not in {p.kind for p in s.populations}
    hydra = next(c for c in s.campaigns if c.id == "smoke-hydra")
    assert hydra.accounts == 30 and hydra.proxy.kind == "tor" and hydra.proxy.pool_size == 500
    assert [c.id for c in s.campaigns][-1] == "new-one"


def test_dump_round_trips(tmp_path: Path) -> None:
    s = load_scenario("dev")
    path = tmp_path / "dev.yaml"
    path.write_text(dump_scenario(s), encoding="utf-8")
    assert load_scenario(str(path)) == s
