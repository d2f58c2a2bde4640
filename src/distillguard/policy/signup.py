"""Signup verification tiers: from a signup's category, email, address, card and
timing to the verification it must pass, with the evidence behind it.

Signals: cover category, disposable email domain, network origin of the signup
address, reuse of the card by earlier accounts, resemblance of the email local
part to those of flagged accounts (:mod:`~distillguard.policy.signup_flagged`),
and signup bursts (same /24, email domain or card within one slot,
:mod:`~distillguard.policy.signup_bursts`). Every signal is one
:class:`Evidence`; the combined score (noisy-OR) picks the tier from
thresholds in ``signup.yaml`` (:mod:`~distillguard.policy.signup_rules`).

Each request is judged against the signups *before* its ``created_at`` only:
the store's accounts and flagged decisions are read once by
:func:`load_signup_assessor`, and every assessed request joins a bounded
in-process history (:mod:`~distillguard.policy.signup_history`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from disposable_email_domains import blocklist

from distillguard.accounts import IpIntel, Origin, subnet_of
from distillguard.core.decision import Evidence
from distillguard.core.email import local_shape
from distillguard.core.schema import VERIFICATIONS
from distillguard.policy.signup_bursts import burst_evidence
from distillguard.policy.signup_flagged import FlaggedPatterns
from distillguard.policy.signup_history import PastSignup, SignupHistory
from distillguard.policy.signup_request import SignupRequest
from distillguard.policy.signup_rules import SignupRules, load_signup_rules, saturating
from distillguard.store import Store
from distillguard.store.signups import latest_flagged_locals, recent_signups

TIERS: tuple[str, ...] = VERIFICATIONS[1:]
"""The tiers a signup can be asked for: every verification above ``none``."""
PHONE_OR_STRONGER = frozenset(TIERS[TIERS.index("phone"):])


@dataclass(frozen=True, slots=True)
class SignupAssessment:
    """The verification tier a signup must pass, its combined score and the evidence behind it."""

    tier: str
    score: float
    evidence: tuple[Evidence, ...]
    category: str
    email_domain: str
    created_at: datetime

    @property
    def reasons(self) -> tuple[str, ...]:
        """The evidence in plain words, strongest first."""
        return tuple(e.reason for e in self.evidence)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record; carries no address, email local part or account id."""
        return {
            "tier": self.tier,
            "score": round(self.score, 4),
            "category": self.category,
            "email_domain": self.email_domain,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "evidence": [{"detector": e.detector, "score": round(e.score, 4), "reason": e.reason} for e in self.evidence],
            "reasons": list(self.reasons),
        }


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _disposable_parent(domain: str, disposable: frozenset[str] | set[str]) -> str | None:
    """The domain or its nearest parent on the disposable list (``a.mailinator.com`` → ``mailinator.com``)."""
    labels = domain.split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        if candidate in disposable:
            return candidate
    return None


_ORIGIN_WORDS = {
    Origin.DATACENTER: "is in a datacenter or cloud range",
    Origin.VPN: "is in a VPN range",
    Origin.TOR: "is a Tor exit node",
}


class SignupAssessor:
    """Assesses signups against the rules, IP intelligence, flagged patterns and the signup history.

    Build it with :func:`load_signup_assessor`; the constructor does no I/O.
    Every assessed request joins the (bounded) history. Thread-safe.
    """

    def __init__(
        self,
        rules: SignupRules,
        intel: IpIntel,
        history: SignupHistory,
        flagged: FlaggedPatterns,
        disposable: frozenset[str] | set[str] = blocklist,
    ) -> None:
        self.rules = rules
        self.intel = intel
        self.history = history
        self.flagged = flagged
        self.disposable = disposable
        self._lock = threading.Lock()

    def assess(self, request: SignupRequest) -> SignupAssessment:
        """The tier ``request`` must pass, judged on the signups before its ``created_at``."""
        signup = PastSignup(
            at=_ms(request.created_at),
            who=request.email.lower(),
            domain=request.email_domain,
            subnet=subnet_of(request.signup_ip.partition("%")[0]),
            payment=request.payment_fingerprint,
            shape=local_shape(request.email_local),
        )
        origin = self.intel.origin(request.signup_ip)
        disposable = _disposable_parent(request.email_domain, self.disposable)
        with self._lock:
            card, organisation = self._payment_reuse(signup, disposable is not None)
            found = [
                *self._category(request),
                *self._disposable(disposable),
                *self._origin(origin),
                *card,
                *self._flagged_pattern(request, signup),
                *burst_evidence(signup, self.history, self.rules.signals.bursts),
            ]
            self.history.add(signup)
        evidence = tuple(sorted(found, key=lambda e: -e.score))
        remaining = 1.0
        for e in evidence:
            remaining *= 1.0 - e.score
        score = 1.0 - remaining
        business = organisation or request.category in self.rules.business_categories
        return SignupAssessment(self._tier(score, business), score, evidence, request.category,
                                request.email_domain, request.created_at)

    def _tier(self, score: float, business: bool) -> str:
        tiers = self.rules.tiers
        if score >= tiers.phone and business:
            return "business"
        if score >= tiers.id_document:
            return "id_document"
        return "phone" if score >= tiers.phone else "email"

    def _category(self, request: SignupRequest) -> list[Evidence]:
        score = self.rules.signals.category.get(request.category, 0.0)
        if score <= 0:
            return []
        return [Evidence("signup.category", score,
                         f"account category '{request.category}' is a common cover for distillation operators")]

    def _disposable(self, listed: str | None) -> list[Evidence]:
        if listed is None:
            return []
        return [Evidence("signup.disposable_email", self.rules.signals.disposable_email,
                         f"email domain '{listed}' is a disposable-address provider")]

    def _origin(self, origin: Origin) -> list[Evidence]:
        if origin is Origin.RESIDENTIAL:
            return []
        score = getattr(self.rules.signals.ip_origin, origin.name.lower())
        if score <= 0:
            return []
        return [Evidence("signup.ip_origin", score, f"signup address {_ORIGIN_WORDS[origin]}")]

    def _payment_reuse(self, signup: PastSignup, disposable: bool) -> tuple[list[Evidence], bool]:
        """Evidence of a card used by earlier accounts, and whether it is an organisation's card.

        An organisation's card: every earlier account on it has an address at the
        signup's own (not disposable) email domain, and they are at least half of
        that domain's earlier accounts (colleagues, not users of a webmail).
        """
        holders = self.history.holders("payment", signup.payment, None, signup.at, signup.who)
        if not holders:
            return [], False
        rule = self.rules.signals.payment_reuse
        others = len(holders)
        score = saturating(others, rule.half_at, rule.max_score)
        plural = "s" if others > 1 else ""
        organisation = (
            not disposable
            and all(who.rpartition("@")[2] == signup.domain for who in holders)
            and self.history.count_before("domain", signup.domain, signup.at) <= 2 * others
        )
        if organisation:
            return [Evidence("signup.payment_reuse", score * rule.organisation_factor,
                             f"the payment card is already used by {others} earlier account{plural}, all at "
                             f"{signup.domain}: an organisation's card")], True
        return [Evidence("signup.payment_reuse", score,
                         f"the payment card is already used by {others} earlier account{plural}")], False

    def _flagged_pattern(self, request: SignupRequest, signup: PastSignup) -> list[Evidence]:
        rule = self.rules.signals.flagged_pattern
        found: list[Evidence] = []
        flagged_total = self.flagged.flagged_before(signup.at)
        accounts_total = self.history.total_before(signup.at)
        if flagged_total and accounts_total:
            flagged_shape = self.flagged.flagged_before(signup.at, signup.shape)
            with_shape = self.history.count_before("shape", signup.shape, signup.at)
            share = min(1.0, flagged_shape / (with_shape + rule.prior_accounts))
            base = min(1.0, flagged_total / accounts_total)
            if flagged_shape >= rule.min_flagged and share >= rule.min_lift * base and share > 0:
                found.append(Evidence(
                    "signup.flagged_pattern.shape", rule.shape_weight * share,
                    f"{flagged_shape} of {with_shape} earlier accounts whose email local part has the shape "
                    f"'{signup.shape}' were flagged ({share:.0%} after shrinkage; base rate {base:.0%})"))
        if flagged_total:
            similarity = self.flagged.nearest(request.email_local, signup.at)
            if similarity >= rule.min_similarity:
                found.append(Evidence(
                    "signup.flagged_pattern.ngram", rule.ngram_weight * similarity,
                    f"the email local part is {similarity:.0%} similar (character 3-grams) to a flagged account's"))
        return found


def load_signup_assessor(store: Store | None, intel_dir: Path | None, rules_path: Path | None) -> SignupAssessor:
    """Read the rules, IP lists, the store's recent accounts and the latest run's flagged accounts.

    ``store`` may be None (no earlier accounts, no flagged patterns);
    ``intel_dir`` None uses only the bundled IP ranges; ``rules_path`` None the
    shipped ``signup.yaml``. Raises :class:`ConfigError` on invalid rules or lists.
    """
    rules = load_signup_rules(rules_path)
    intel = IpIntel.load(intel_dir)
    limits = rules.history
    if store is None:
        return SignupAssessor(rules, intel, SignupHistory(limits.max_signups), FlaggedPatterns([]))
    history = SignupHistory.from_accounts(recent_signups(store, limits.max_signups), limits.max_signups)
    flagged = FlaggedPatterns.from_table(latest_flagged_locals(store, limits.max_flagged))
    return SignupAssessor(rules, intel, history, flagged)


__all__ = ["PHONE_OR_STRONGER", "TIERS", "SignupAssessment", "SignupAssessor", "load_signup_assessor"]
