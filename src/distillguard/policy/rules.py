"""Rules as data: a YAML risk → action table, validated at load; pure ``decide``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from distillguard.accounts.risk import TERM_SIGNS, term_detector
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


def _known_verification(level: str) -> str:
    if level not in VERIFICATIONS:
        raise ValueError(f"unknown verification {level!r}; known: {list(VERIFICATIONS)}")
    return level


def _verification_rank(level: str | None) -> int:
    """Position of ``level`` in :data:`VERIFICATIONS`, weakest first; -1 when unknown (no verification on record)."""
    return -1 if level is None else VERIFICATIONS.index(level)


def _check_detectors(detectors: list[str]) -> list[str]:
    """``detectors`` if each is an account risk term's that raises the risk; else ValueError naming the others."""
    known = sorted(term_detector(term) for term, sign in TERM_SIGNS.items() if sign > 0)
    unknown = sorted(set(detectors) - set(known))
    if unknown:
        raise ValueError(f"unknown detectors {unknown}; known: {known}")
    return detectors


SOURCE_EVIDENCE = ("account.client_mismatch", "account.ip_rotation", "account.anonymiser", "account.young_exit")
"""Detectors whose evidence says how an account's traffic reaches the API rather than what it asks: a client claim
its TLS stack contradicts, a new address for most requests, VPN or Tor exits, an exit crowded with new accounts."""


class EstablishedStanding(BaseModel):
    """Accounts in good standing: reviewed, never degraded, on their own evidence; asked to verify again only where
    that evidence reaches ``verify_from_risk`` and includes a detector of ``verify_on``."""

    model_config = ConfigDict(extra="forbid")
    min_verification: str = "id_document"
    min_age_days: float = Field(90.0, ge=0)
    verify_from_risk: float = Field(0.90, ge=0, le=1)
    verify_on: list[str] = list(SOURCE_EVIDENCE)

    @field_validator("min_verification")
    @classmethod
    def _known(cls, level: str) -> str:
        return _known_verification(level)

    @field_validator("verify_on")
    @classmethod
    def _known_detectors(cls, detectors: list[str]) -> list[str]:
        return _check_detectors(detectors)


class CoverStanding(BaseModel):
    """Categories distillers claim as cover: degradation becomes a demand for the category's verification tier
    (again, where the account has it); below ``review_below``, where the evidence names no detector of ``verify_on``,
    a review (monitor) instead."""

    model_config = ConfigDict(extra="forbid")
    categories: list[str] = []
    instead_of: list[Action] = []
    review_below: float = Field(0.0, ge=0, le=1)
    verify_on: list[str] = list(SOURCE_EVIDENCE)

    @field_validator("verify_on")
    @classmethod
    def _known_detectors(cls, detectors: list[str]) -> list[str]:
        return _check_detectors(detectors)

    @field_validator("categories")
    @classmethod
    def _known(cls, categories: list[str]) -> list[str]:
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        return categories

    @field_validator("instead_of")
    @classmethod
    def _degrading(cls, actions: list[Action]) -> list[Action]:
        bad = [a.value for a in actions if not a.flags or a is Action.REQUIRE_VERIFICATION]
        if bad:
            raise ValueError(f"{bad} are not degrading actions (monitor or milder, or require_verification itself)")
        return actions


class Standing(BaseModel):
    """How an account's standing (verification, age, category, campaign membership) changes its action.

    Campaign members are never changed, except those of a campaign that is one customer's accounts (one card, or
    one organisation's mail domain, linked to no one otherwise): standing bounds what an account's own evidence,
    or its own customer's pooled evidence, does to it.
    """

    model_config = ConfigDict(extra="forbid")
    established: EstablishedStanding | None = None
    cover: CoverStanding = CoverStanding()


class Policy(BaseModel):
    """The ordered rules, per-category and per-model overrides, throttle rate, verification tiers and standing."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]
    category_caps: dict[str, Action] = {}
    models: dict[str, ModelOverride] = {}
    throttle: Throttle = Throttle()
    verification: VerificationTiers = VerificationTiers()
    standing: Standing = Standing()

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
    def reads(self) -> frozenset[str]:
        """The detectors a decision looks for in an account's evidence (``verify_on`` of the established standing
        and, where it reviews, of the cover standing): scoring reports them wherever they count, not only among the
        account's top reasons."""
        established, cover = self.standing.established, self.standing.cover
        return (frozenset(established.verify_on if established is not None else ())
                | frozenset(cover.verify_on if cover.review_below > 0 else ()))

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
    """What ``decide`` looks at for one account: its risk and evidence, and its standing.

    Standing is the account's ``category``, ``verification`` level, ``age`` at decision time and ``campaign_id``
    (the campaign linking put it in; ``one_customer`` when that campaign's accounts all pay with one card, or are
    on one organisation's mail domain, and link to no one otherwise). None is unknown, and unknown counts as no
    standing: no category, no verification, no history.
    """

    account_id: str
    risk: float
    evidence: tuple[Evidence, ...] = ()
    category: str | None = None
    campaign_id: str | None = None
    model: str | None = None
    verification: str | None = None
    age: timedelta | None = None
    one_customer: bool = False

    def __post_init__(self) -> None:
        if self.verification is not None:
            _known_verification(self.verification)


def decide(policy: Policy, context: DecisionContext) -> Decision:
    """The action for one account: the first rule it reaches (the model's table if it has one), capped, then
    bounded by its standing (:func:`standing_action`), which adds its evidence when it changes the action."""
    rules = policy._model(context.model).rules or policy.rules
    action = policy.cap(next(r.action for r in rules if context.risk >= r.min_risk), context.category, context.model)
    evidence = context.evidence
    bounded = standing_action(policy, context, action)
    if bounded is not None:
        action, reason = bounded
        evidence = (*evidence, Evidence("policy.standing", 1.0, reason))
    return Decision(
        account_id=context.account_id,
        risk=context.risk,
        action=action,
        evidence=evidence,
        campaign_id=context.campaign_id,
    )


def standing_action(policy: Policy, context: DecisionContext, action: Action) -> tuple[Action, str] | None:
    """The action that replaces ``action`` given the account's standing, with the reason; None when it stands.

    Campaign members keep ``action``, unless their campaign is one customer's accounts (one card, or one
    organisation's mail domain, linked to no one otherwise): a lab's seats, pooled, look like a cell. A fleet on one
    card or on a domain of its own is then judged as that one customer would be: asked to verify where it claims a
    cover category, reviewed only where its accounts are verified and established. An established account (verified,
    old enough) that ``action`` would flag is reviewed instead: ``monitor``, or ``require_verification`` from
    ``verify_from_risk`` where its evidence also includes a detector of ``verify_on`` (by default
    :data:`SOURCE_EVIDENCE`: a business's product explains what it asks, not a spoofed client or a rotating exit; a
    bought or aged account run by an operator comes through the operator's infrastructure). An account of a cover
    category is asked for its category's verification tier instead of being degraded: for the first time below it,
    again at or above it (verification is the counter for cover categories, whatever the account's age); below the
    cover standing's ``review_below``, where its evidence names no detector of the cover standing's ``verify_on``
    (what it asks only, as a student's or a lab's), it is reviewed (``monitor``) instead.
    ``require_verification`` is only asked where the category's and model's caps allow it (the caps are the
    strongest action taken without an analyst): otherwise an established account is monitored and a cover
    account keeps ``action``.
    """
    if (context.campaign_id is not None and not context.one_customer) or not action.flags:
        return None
    linked = "linked only to its customer's accounts" if context.campaign_id is not None else "not linked to a campaign"
    standing = policy.standing
    level = _verification_rank(context.verification)
    verify = Action.REQUIRE_VERIFICATION
    may_verify = policy.cap(verify, context.category, context.model) is verify
    established = standing.established
    if (established is not None and context.age is not None
            and level >= _verification_rank(established.min_verification)
            and context.age >= timedelta(days=established.min_age_days)):
        source = [e.detector for e in context.evidence if e.detector in established.verify_on]
        strong = context.risk >= established.verify_from_risk and bool(source)
        review = verify if may_verify and strong else Action.MONITOR
        if review is action:
            return None
        who = f"{context.category or 'uncategorised'} account verified at {context.verification}"
        how = f", on evidence of {', '.join(source)}" if review is verify else ""
        return review, (f"{who}, {context.age.days} days old, {linked}: "
                        f"review ({review.value}) instead of {action.value}{how}")
    category, cover = context.category, standing.cover
    if category not in cover.categories or action not in cover.instead_of:
        return None
    has = f"verified at {context.verification}" if context.verification else "with no verification on record"
    if context.risk < cover.review_below and not any(e.detector in cover.verify_on for e in context.evidence):
        return Action.MONITOR, (f"{category} account {has}, {linked}: review (monitor) instead of {action.value}, "
                                f"below {cover.review_below:.2f} on evidence of what it asks only")
    if may_verify:
        tier = policy.tier_for(category)
        again = " again" if level >= _verification_rank(tier) else ""
        return verify, f"{category} account {has}, {linked}: {tier} verification{again} instead of {action.value}"
    return None
