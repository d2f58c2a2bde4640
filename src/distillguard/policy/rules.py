"""Rules as data: a YAML risk → action table, validated at load; pure ``decide``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from distillguard.core.decision import Action, Decision, Evidence
from distillguard.core.errors import ConfigError
from distillguard.core.schema import CATEGORIES

_ORDER = list(Action)


class Rule(BaseModel):
    """Accounts whose risk reaches ``min_risk`` get ``action``."""

    model_config = ConfigDict(extra="forbid")
    min_risk: float
    action: Action

    @field_validator("min_risk")
    @classmethod
    def _in_unit_interval(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("must be within 0..1")
        return value


class Policy(BaseModel):
    """The ordered rules and per-category caps of one deployment."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]
    category_caps: dict[str, Action] = {}

    @field_validator("rules")
    @classmethod
    def _ordered_and_total(cls, rules: list[Rule]) -> list[Rule]:
        if not rules:
            raise ValueError("at least one rule is needed")
        risks = [r.min_risk for r in rules]
        if risks != sorted(risks, reverse=True):
            raise ValueError("rules must be ordered by decreasing min_risk")
        if risks[-1] != 0.0:
            raise ValueError("the last rule must have min_risk 0 so that every account gets an action")
        return rules

    @field_validator("category_caps")
    @classmethod
    def _known_categories(cls, caps: dict[str, Action]) -> dict[str, Action]:
        unknown = sorted(set(caps) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        return caps


def load_policy(path: Path | None = None) -> Policy:
    """Read a policy YAML (the shipped default when ``path`` is None); raise ConfigError if invalid."""
    where = str(path) if path else "default policy"
    try:
        text = path.read_text(encoding="utf-8") if path else (
            resources.files("distillguard.policy").joinpath("default.yaml").read_text(encoding="utf-8")
        )
        return Policy.model_validate(yaml.safe_load(text))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read policy: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: invalid policy: {problems}") from exc


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """What ``decide`` looks at for one account."""

    account_id: str
    risk: float
    evidence: tuple[Evidence, ...] = ()
    category: str | None = None
    campaign_id: str | None = None


def decide(policy: Policy, context: DecisionContext) -> Decision:
    """The action for one account: the first rule it reaches, capped by its category."""
    action = next(r.action for r in policy.rules if context.risk >= r.min_risk)
    cap = policy.category_caps.get(context.category or "")
    if cap is not None and _ORDER.index(action) > _ORDER.index(cap):
        action = cap
    return Decision(
        account_id=context.account_id,
        risk=context.risk,
        action=action,
        evidence=context.evidence,
        campaign_id=context.campaign_id,
        reasons=tuple(e.reason for e in context.evidence),
    )
