"""Signup rules: the shipped file loads, invalid files fail at load naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from distillguard.core.errors import ConfigError
from distillguard.core.schema import VERIFICATIONS
from distillguard.policy.signup import PHONE_OR_STRONGER, TIERS
from distillguard.policy.signup_rules import load_signup_rules, saturating


def test_shipped_rules_load_and_state_a_friction_budget() -> None:
    rules = load_signup_rules()
    assert 0 < rules.friction_budget.max_legit_share_phone_or_stronger < 0.5
    assert rules.tiers.phone < rules.tiers.id_document
    assert VERIFICATIONS[1:] == TIERS and {"phone", "id_document", "business"} == PHONE_OR_STRONGER


def _shipped() -> dict:
    return yaml.safe_load((Path(__file__).resolve().parents[2] / "src/distillguard/policy/signup.yaml").read_text())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("tiers", "phone"), 0.9, "phone < id_document"),
        (("tiers", "id_document"), 1.5, "less than or equal to 1"),
        (("signals", "category"), {"pirates": 0.5}, "unknown categories"),
        (("signals", "category"), {"education": 2.0}, "within 0..1"),
        (("business_categories",), ["guild"], "business_categories"),
        (("signals", "bursts", "subnet", "min_others"), 0, "signals.bursts.subnet.min_others"),
        (("signals", "bursts", "window_minutes"), 60, "signals.bursts.window_minutes"),  # the slot is not a rule
        (("signals", "surprise"), 1, "signals.surprise"),
        (("history", "max_signups"), 0, "history.max_signups"),
    ],
)
def test_invalid_rules_fail_at_load(tmp_path: Path, path: tuple[str, ...], value: object, message: str) -> None:
    data = _shipped()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    target = tmp_path / "signup.yaml"
    target.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message) as info:
        load_signup_rules(target)
    assert str(target) in str(info.value)


def test_unreadable_rules_fail_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_signup_rules(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("tiers: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_signup_rules(broken)


@pytest.mark.parametrize(("count", "score"), [(0, 0.0), (3, 0.3), (6, 0.45)])
def test_saturating_score_is_half_the_maximum_at_half_at(count: float, score: float) -> None:
    assert saturating(count, 3, 0.6) == pytest.approx(score)
