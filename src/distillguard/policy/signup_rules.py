"""Signup rules as data: tier thresholds and the weights of every signal, from ``signup.yaml``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from distillguard.config.loading import load_yaml_model
from distillguard.core.schema import CATEGORIES

Score = Field(ge=0.0, le=1.0)


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrictionBudget(_Rules):
    """The share of legitimate signups the thresholds are designed to send to phone or stronger."""

    max_legit_share_phone_or_stronger: float = Score


class TierThresholds(_Rules):
    """Minimum combined score for each tier stronger than email."""

    phone: float = Score
    id_document: float = Score

    @model_validator(mode="after")
    def _ascending(self) -> TierThresholds:
        if not 0.0 < self.phone < self.id_document:
            raise ValueError("thresholds must satisfy 0 < phone < id_document")
        return self


class IpOriginScores(_Rules):
    """Score of a signup address by its network origin."""

    datacenter: float = Score
    vpn: float = Score
    tor: float = Score


class PaymentReuseRule(_Rules):
    """Score of a card used by earlier accounts, saturating with their number."""

    max_score: float = Score
    half_at: float = Field(gt=0)
    organisation_factor: float = Score


class FlaggedPatternRule(_Rules):
    """Resemblance of an email local part to those of flagged accounts."""

    shape_weight: float = Score
    min_flagged: int = Field(ge=1)
    prior_accounts: float = Field(ge=0)
    min_lift: float = Field(ge=1)
    ngram_weight: float = Score
    min_similarity: float = Field(gt=0, le=1)


class BurstRule(_Rules):
    """A burst is evidence when at least ``min_others`` other signups in the slot share the key."""

    min_others: int = Field(ge=1)
    half_at: float = Field(gt=0)
    max_score: float = Score


class DomainBurstRule(BurstRule):
    """A domain's burst is evidence only above ``min_ratio`` times its usual signup rate too."""

    min_ratio: float = Field(ge=1)


class BurstRules(_Rules):
    """Signup bursts by subnet, email domain and card (the slot is :mod:`distillguard.core.signup_burst`'s)."""

    subnet: BurstRule
    email_domain: DomainBurstRule
    payment: BurstRule


class SignalRules(_Rules):
    """Weights and parameters of every signal."""

    category: dict[str, float]
    disposable_email: float = Score
    ip_origin: IpOriginScores
    payment_reuse: PaymentReuseRule
    flagged_pattern: FlaggedPatternRule
    bursts: BurstRules

    @model_validator(mode="after")
    def _known_categories(self) -> SignalRules:
        unknown = sorted(set(self.category) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        bad = sorted(k for k, v in self.category.items() if not 0.0 <= v <= 1.0)
        if bad:
            raise ValueError(f"category scores must be within 0..1: {bad}")
        return self


class HistoryLimits(_Rules):
    """Bounds of the assessor's memory."""

    max_signups: int = Field(ge=1)
    max_flagged: int = Field(ge=0)


class SignupRules(_Rules):
    """The whole signup policy of one deployment."""

    friction_budget: FrictionBudget
    tiers: TierThresholds
    business_categories: list[str]
    signals: SignalRules
    history: HistoryLimits

    @model_validator(mode="after")
    def _known_business_categories(self) -> SignupRules:
        unknown = sorted(set(self.business_categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"business_categories: unknown categories {unknown}; known: {list(CATEGORIES)}")
        return self


def load_signup_rules(path: Path | None = None) -> SignupRules:
    """Read signup rules YAML (the shipped ``signup.yaml`` when None); raise ConfigError if invalid."""
    return load_yaml_model(SignupRules, path, "distillguard.policy", "signup.yaml", "signup rules")


def saturating(count: float, half_at: float, max_score: float) -> float:
    """The score the rules give ``count`` occurrences: ``max_score`` times ``1 - 2^(-count/half_at)``,
    half of it at ``half_at``."""
    remaining: float = 0.5 ** (count / half_at)
    return max_score * (1.0 - remaining)


__all__ = [
    "BurstRule",
    "BurstRules",
    "DomainBurstRule",
    "FlaggedPatternRule",
    "FrictionBudget",
    "HistoryLimits",
    "IpOriginScores",
    "PaymentReuseRule",
    "SignalRules",
    "SignupRules",
    "TierThresholds",
    "load_signup_rules",
    "saturating",
]
