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
        (0.75, "research", Action.STRIP_REASONING),
        (0.95, "startup", Action.BLOCK),
        (0.95, "enterprise", Action.SUMMARIZE_REASONING),
    ],
)
def test_default_policy_table(risk: float, category: str | None, action: Action) -> None:
    decision = decide(load_policy(), DecisionContext("a", risk, (Evidence("d", 0.9, "why"),), category))
    assert decision.action is action
    assert decision.flagged == (action not in (Action.ALLOW, Action.MONITOR))
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
        ("rules: [{min_risk: 0, action: allow}]\nmodels: {m: {rules: [{min_risk: 0.5, action: block}]}}", "min_risk 0"),
        ("rules: [{min_risk: 0, action: allow}]\nmodels: {m: {cap: nap}}", "models.m.cap"),
        ("rules: [{min_risk: 0, action: allow}]\nthrottle: {requests: 5, window_s: 0}", "throttle.window_s"),
        ("rules: [{min_risk: 0, action: allow}]\nverification: {default: retina}", "unknown tier"),
        ("rules: [{min_risk: 0, action: allow}]\nverification: {by_category: {startup: dna}}", "unknown tiers"),
    ],
)
def test_invalid_policy_fails_at_load(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(path)


PER_MODEL = """
rules:
  - {min_risk: 0.9, action: block}
  - {min_risk: 0.0, action: allow}
category_caps: {enterprise: summarize_reasoning}
models:
  atlas-2-fast: {cap: throttle}
  atlas-2-pro:
    rules:
      - {min_risk: 0.5, action: strip_reasoning}
      - {min_risk: 0.0, action: monitor}
verification: {default: phone, by_category: {startup: business}}
"""


@pytest.mark.parametrize(
    ("risk", "category", "model", "action"),
    [
        (0.95, None, None, Action.BLOCK),
        (0.95, None, "atlas-2-fast", Action.THROTTLE),
        (0.60, None, "atlas-2-pro", Action.STRIP_REASONING),
        (0.10, None, "atlas-2-pro", Action.MONITOR),
        (0.95, "enterprise", "atlas-2-fast", Action.THROTTLE),
        (0.95, "enterprise", "other-model", Action.SUMMARIZE_REASONING),
    ],
)
def test_per_model_rules_and_caps(tmp_path: Path, risk: float, category: str | None, model: str | None,
                                  action: Action) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(PER_MODEL)
    policy = load_policy(path)
    assert decide(policy, DecisionContext("a", risk, (), category, model=model)).action is action


def test_verification_tier_and_throttle_rate_come_from_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(PER_MODEL)
    policy = load_policy(path)
    assert policy.tier_for("startup") == "business"
    assert policy.tier_for(None) == "phone"
    default = load_policy()
    assert default.throttle.requests > 0 and default.throttle.window_s > 0
    assert default.tier_for("individual") == "id_document"


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        (None, 0.70),  # the shipped policy: strip_reasoning from 0.70, monitor only from 0.40
        ("rules: [{min_risk: 0.8, action: throttle}, {min_risk: 0.3, action: monitor}, {min_risk: 0, action: allow}]", 0.8),
        ("rules: [{min_risk: 0.9, action: block}, {min_risk: 0.5, action: monitor}, {min_risk: 0.2, action: throttle},"
         " {min_risk: 0, action: allow}]", 0.2),
        ("rules: [{min_risk: 0.5, action: monitor}, {min_risk: 0, action: allow}]", float("inf")),
        (PER_MODEL, 0.9),  # per-model tables and caps do not move it
    ],
)
def test_flag_threshold_is_the_lowest_risk_a_rule_flags(tmp_path: Path, text: str | None, threshold: float) -> None:
    path = None
    if text is not None:
        path = tmp_path / "policy.yaml"
        path.write_text(text)
    assert load_policy(path).flag_threshold == threshold
