"""Signup bursts as evidence: many signups sharing a /24 (or /48), an email domain or a card in one slot.

The slot is the one definition of a signup burst (:mod:`distillguard.core.signup_burst`);
the rules say how many other signups in it make evidence, and how much.
"""

from __future__ import annotations

from distillguard.core.decision import Evidence
from distillguard.core.signup_burst import SIGNUP_BURST_MINUTES, SIGNUP_BURST_MS, signup_burst_slot
from distillguard.policy.signup_history import PastSignup, SignupHistory
from distillguard.policy.signup_rules import BurstRule, BurstRules, saturating

_IN_SLOT = f"in the same {SIGNUP_BURST_MINUTES}-minute signup slot"


def burst_evidence(signup: PastSignup, history: SignupHistory, rules: BurstRules) -> list[Evidence]:
    """Evidence of the bursts ``signup`` joins, from the signups before it in its slot."""
    since = signup_burst_slot(signup.at)
    found: list[Evidence] = []
    subnet_others = history.distinct("subnet", signup.subnet, since, signup.at, signup.who)
    if subnet_others >= rules.subnet.min_others:
        found.append(Evidence(
            "signup.burst.subnet", _burst_score(subnet_others, rules.subnet),
            f"{subnet_others} other signups from the same network (/24 or /48) {_IN_SLOT}"))
    payment_others = history.distinct("payment", signup.payment, since, signup.at, signup.who)
    if payment_others >= rules.payment.min_others:
        found.append(Evidence(
            "signup.burst.payment", _burst_score(payment_others, rules.payment),
            f"{payment_others} other signups with the same payment card {_IN_SLOT}"))
    domain_rule = rules.email_domain
    domain_others = history.distinct("domain", signup.domain, since, signup.at, signup.who)
    if domain_others >= domain_rule.min_others:
        expected = _expected_in_slot(history, signup.domain, since)
        if domain_others >= domain_rule.min_ratio * expected:
            found.append(Evidence(
                "signup.burst.email_domain", _burst_score(domain_others, domain_rule),
                f"{domain_others} other signups with an email at {signup.domain} {_IN_SLOT} "
                f"(about {expected:.1f} usual)"))
    return found


def _expected_in_slot(history: SignupHistory, domain: str | None, since: int) -> float:
    """Signups a slot usually holds for ``domain``, from its rate before ``since``."""
    first = history.first_at()
    if first is None or since <= first:
        return 0.0
    before = history.count_before("domain", domain, since)
    return before * SIGNUP_BURST_MS / (since - first)


def _burst_score(others: int, rule: BurstRule) -> float:
    return saturating(others - rule.min_others + 1, rule.half_at, rule.max_score)


__all__ = ["burst_evidence"]
