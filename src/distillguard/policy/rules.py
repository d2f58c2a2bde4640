"""Rules as data: a YAML risk → action table, validated at load; pure ``decide``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from distillguard.config.loading import load_yaml_model
from distillguard.core.decision import Action, Decision, Evidence
from distillguard.core.schema import CATEGORIES, VERIFICATIONS


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


def _check_rules(rules: list[Rule]) -> list[Rule]:
    if not rules:
        raise ValueError("at least one rule is needed")
    risks = [r.min_risk for r in rules]
    if risks != sorted(risks, reverse=True):
        raise ValueError("rules must be ordered by decreasing min_risk")
    if risks[-1] != 0.0:
        raise ValueError("the last rule must have min_risk 0 so that every account gets an action")
    return rules


class ModelOverride(BaseModel):
    """Per-model policy: its own rule table and / or a cap on the action."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] | None = None
    cap: Action | None = None

    @field_validator("rules")
    @classmethod
    def _ordered_and_total(cls, rules: list[Rule] | None) -> list[Rule] | None:
        return None if rules is None else _check_rules(rules)


class Throttle(BaseModel):
    """The rate a throttled account keeps: ``requests`` per sliding ``window_s`` seconds."""

    model_config = ConfigDict(extra="forbid")
    requests: int = Field(10, ge=0)
    window_s: float = Field(60.0, gt=0)


class VerificationTiers(BaseModel):
    """The verification tier ``require_verification`` asks for, by account category."""

    model_config = ConfigDict(extra="forbid")
    default: str = "id_document"
    by_category: dict[str, str] = {}

    @field_validator("default")
    @classmethod
    def _known_tier(cls, tier: str) -> str:
        if tier not in VERIFICATIONS:
            raise ValueError(f"unknown tier {tier!r}; known: {list(VERIFICATIONS)}")
        return tier

    @field_validator("by_category")
    @classmethod
    def _known(cls, tiers: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(tiers) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        bad = sorted(set(tiers.values()) - set(VERIFICATIONS))
        if bad:
            raise ValueError(f"unknown tiers {bad}; known: {list(VERIFICATIONS)}")
        return tiers


class Policy(BaseModel):
    """The ordered rules, per-category and per-model overrides, throttle rate and verification tiers."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]
    category_caps: dict[str, Action] = {}
    models: dict[str, ModelOverride] = {}
    throttle: Throttle = Throttle()
    verification: VerificationTiers = VerificationTiers()

    @field_validator("rules")
    @classmethod
    def _ordered_and_total(cls, rules: list[Rule]) -> list[Rule]:
        return _check_rules(rules)

    def cap(self, action: Action, category: str | None = None, model: str | None = None) -> Action:
        """``action`` limited by the caps of the account's category and of the model."""
        for limit in (self.category_caps.get(category or ""), self._model(model).cap):
            if limit is not None and action.rank > limit.rank:
                action = limit
        return action

    @property
    def flag_threshold(self) -> float:
        """The lowest risk at which the rules flag an account (an action stronger than monitoring); inf if none does.

        Read from the rule table for all models; category caps and per-model
        tables do not change it. Campaigns are reported from this risk on: a
        group of accounts none of whom would be flagged is not a campaign.
        """
        return min((r.min_risk for r in self.rules if r.action.flags), default=math.inf)

    def tier_for(self, category: str | None) -> str:
        """The verification tier required of an account of ``category``."""
        return self.verification.by_category.get(category or "", self.verification.default)

    def _model(self, model: str | None) -> ModelOverride:
        return self.models.get(model or "", _NO_OVERRIDE)

    @field_validator("category_caps")
    @classmethod
    def _known_categories(cls, caps: dict[str, Action]) -> dict[str, Action]:
        unknown = sorted(set(caps) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        return caps


_NO_OVERRIDE = ModelOverride()


def load_policy(path: Path | None = None) -> Policy:
    """Read a policy YAML (the shipped default when ``path`` is None); raise ConfigError if invalid."""
    return load_yaml_model(Policy, path, "distillguard.policy", "default.yaml", "policy")


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """What ``decide`` looks at for one account."""

    account_id: str
    risk: float
    evidence: tuple[Evidence, ...] = ()
    category: str | None = None
    campaign_id: str | None = None
    model: str | None = None


def decide(policy: Policy, context: DecisionContext) -> Decision:
    """The action for one account: the first rule it reaches (the model's table if it has one), capped."""
    rules = policy._model(context.model).rules or policy.rules
    action = policy.cap(next(r.action for r in rules if context.risk >= r.min_risk), context.category, context.model)
    return Decision(
        account_id=context.account_id,
        risk=context.risk,
        action=action,
        evidence=context.evidence,
        campaign_id=context.campaign_id,
    )
