from pathlib import Path

import pytest

from distillguard.core.decision import Action, Evidence
from distillguard.core.errors import ConfigError
from distillguard.policy import DecisionContext, decide, load_policy


@pytest.mark.parametrize(
    ("risk", "category", "action"),
    [
        (0.0, None, Action.ALLOW),
        (0.39, "individual", Action.ALLOW),
        (0.4, "individual", Action.MONITOR),
        (0.75, "research", Action.RESTRICT),
        (0.95, "startup", Action.BLOCK),
        (0.95, "enterprise", Action.RESTRICT),
    ],
)
def test_default_policy_table(risk: float, category: str | None, action: Action) -> None:
    decision = decide(load_policy(), DecisionContext("a", risk, (Evidence("d", 0.9, "why"),), category))
    assert decision.action is action
    assert decision.flagged == (action in (Action.RESTRICT, Action.BLOCK))
    assert decision.reasons == ("why",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: []", "at least one rule"),
        ("rules: [{min_risk: 0.2, action: allow}, {min_risk: 0.5, action: block}]", "decreasing"),
        ("rules: [{min_risk: 0.5, action: block}]", "min_risk 0"),
        ("rules: [{min_risk: 0, action: explode}]", "rules.0.action"),
        ("rules: [{min_risk: 1.5, action: block}, {min_risk: 0, action: allow}]", "within 0..1"),
        ("rules: [{min_risk: 0, action: allow}]\ncategory_caps: {pirates: allow}", "unknown categories"),
    ],
)
def test_invalid_policy_fails_at_load(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(path)
