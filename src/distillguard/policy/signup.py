"""Signup verification tiers: from a signup's category, email, address, card and
timing to the verification it must pass, with the evidence behind it.

Signals: cover category, disposable email domain, network origin of the signup
address, reuse of the card by earlier accounts, resemblance of the email local
part to those of flagged accounts, and signup bursts (same /24, email domain or
card within a short window). Every signal is one :class:`Evidence`; the
combined score (noisy-OR) picks the tier from thresholds in ``signup.yaml``.

Each request is judged against the signups *before* its ``created_at`` only:
the store's accounts and flagged decisions are read once by
:func:`load_signup_assessor`, and every assessed request joins a bounded
in-process history.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right, insort
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from disposable_email_domains import blocklist
from pydantic import BaseModel, ConfigDict, Field, model_validator

from distillguard.accounts import IpIntel, Origin, subnet_of
from distillguard.config.loading import load_yaml_model
from distillguard.core.decision import Evidence
from distillguard.core.errors import RecordError
from distillguard.core.schema import CATEGORIES, VERIFICATIONS
from distillguard.ingest.normalize import parse_ip, parse_ts
from distillguard.store import Store

Score = Field(ge=0.0, le=1.0)


# --- rules --------------------------------------------------------------------------------


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
    """A key bursts when at least ``min_others`` other signups share it within the window."""

    min_others: int = Field(ge=1)
    half_at: float = Field(gt=0)
    max_score: float = Score


class DomainBurstRule(BurstRule):
    """A domain bursts only above ``min_ratio`` times its usual signup rate too."""

    min_ratio: float = Field(ge=1)


class BurstRules(_Rules):
    """Signup bursts by subnet, email domain and card."""

    window_minutes: float = Field(gt=0)
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


# --- requests -----------------------------------------------------------------------------

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_LOCAL_FORBIDDEN = re.compile(r"[\s@<>()\[\],;:\\\"]")
_EMAIL_FIELDS = ("email", "email_local", "email_domain")


def _check_email(local: str, domain: str, local_field: str, domain_field: str) -> tuple[str, str]:
    """Validate and normalise an email's parts (domain lower-cased, IDNA to ASCII)."""
    if not local or len(local) > 64 or _LOCAL_FORBIDDEN.search(local):
        raise RecordError("invalid email local part", local_field)
    try:
        ascii_domain = domain.strip().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise RecordError("invalid email domain", domain_field) from None
    if not _DOMAIN.match(ascii_domain):
        raise RecordError("invalid email domain", domain_field)
    return local, ascii_domain


@dataclass(frozen=True, slots=True)
class SignupRequest:
    """One signup to assess. ``email`` is ``local@domain``; ``created_at`` is UTC.

    The constructor validates and normalises every field (canonical address
    text, lower-case category and domain) and raises :class:`RecordError`
    naming the field.
    """

    category: str
    email: str
    signup_ip: str
    payment_fingerprint: str | None = None
    country: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        category = self.category.strip().lower() if isinstance(self.category, str) else self.category
        if category not in CATEGORIES:
            raise RecordError(f"unknown category {self.category!r}; known: {', '.join(CATEGORIES)}", "category")
        if not isinstance(self.email, str):
            raise RecordError("expected a string", "email")
        local, at, domain = self.email.strip().rpartition("@")
        if not at:
            raise RecordError("invalid email address: no '@'", "email")
        local, domain = _check_email(local, domain, "email", "email")
        if not isinstance(self.created_at, datetime) or self.created_at.tzinfo is None:
            raise RecordError("bad timestamp: expected a datetime with a time zone", "created_at")
        for name in ("payment_fingerprint", "country"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise RecordError("expected a non-empty string", name)
        object.__setattr__(self, "category", category)
        object.__setattr__(self, "email", f"{local}@{domain}")
        object.__setattr__(self, "signup_ip", parse_ip(self.signup_ip, "signup_ip"))
        object.__setattr__(self, "created_at", self.created_at.astimezone(UTC))

    @property
    def email_local(self) -> str:
        """The part of the email before the last ``@``."""
        return self.email.rpartition("@")[0]

    @property
    def email_domain(self) -> str:
        """The email's domain, lower case."""
        return self.email.rpartition("@")[2]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> SignupRequest:
        """Build a request from a JSON-like record (``email``, or ``email_local`` + ``email_domain``).

        ``where`` (a file and line, or "request body") is added to the error:
        :class:`RecordError` names the offending field.
        """
        try:
            if not isinstance(data, Mapping):
                raise RecordError("expected an object")
            for name in ("category", "signup_ip", *_EMAIL_FIELDS):
                value = data.get(name)
                if value is not None and not isinstance(value, str):
                    raise RecordError(f"expected a string, got {type(value).__name__}", name)
            email = data.get("email")
            if email is None:
                local, domain = data.get("email_local"), data.get("email_domain")
                if not local or not domain:
                    raise RecordError("missing: give email, or email_local and email_domain", "email")
                local, domain = _check_email(local, domain, "email_local", "email_domain")
                email = f"{local}@{domain}"
            if data.get("category") is None:
                raise RecordError("missing", "category")
            if data.get("signup_ip") is None:
                raise RecordError("missing", "signup_ip")
            created = data.get("created_at")
            created_at = datetime.now(UTC) if created is None else _as_datetime(created)
            return cls(
                category=data["category"],
                email=email,
                signup_ip=data["signup_ip"],
                payment_fingerprint=_opt_text(data, "payment_fingerprint"),
                country=_opt_text(data, "country"),
                created_at=created_at,
            )
        except RecordError as exc:
            raise RecordError(f"{exc.reason} ({where})", exc.field) from None


def _opt_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"expected a string, got {type(value).__name__}", name)
    return value


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RecordError("bad timestamp: no time zone", "created_at")
        return value.astimezone(UTC)
    ms = parse_ts(value, "created_at")
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- shapes and similarity ----------------------------------------------------------------

_RUNS = re.compile(r"[^\W\d_]+|\d+|.", re.UNICODE)


def local_shape(local: str) -> str:
    """The skeleton of an email local part: letter runs → ``a``, digit runs → one ``9`` per digit,
    other characters kept (``zhang.wei1987`` and ``li.na1990`` both give ``a.a9999``)."""
    out = []
    for run in _RUNS.findall(local.lower()):
        if run[0].isdigit():
            out.append("9" * len(run))
        elif run[0].isalpha():
            out.append("a")
        else:
            out.append(run)
    return "".join(out)


def trigrams(local: str) -> frozenset[str]:
    """Character 3-grams of a lower-cased local part, padded at both ends."""
    text = f"^{local.lower()}$"
    return frozenset(text[i : i + 3] for i in range(len(text) - 2))


# --- history ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PastSignup:
    """One earlier signup as the history keeps it (no address: only its /24 or /48)."""

    at: int  # epoch ms
    who: str  # email (lower case), or the account id when the record has none
    domain: str | None
    subnet: str | None
    payment: str | None
    shape: str | None


_KINDS = ("domain", "subnet", "payment", "shape")


class SignupHistory:
    """The most recent signups, at most ``capacity``, indexed for counts as of a time.

    Counts of distinct signups (by email) over a time range, per email domain,
    /24 subnet, card or local-part shape. The same signup added twice (same
    time and email: a store row that was also assessed) counts once.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[PastSignup] = deque()
        self._seen: set[tuple[int, str]] = set()
        self._times: list[int] = []
        self._index: dict[str, dict[str, list[tuple[int, str]]]] = {kind: {} for kind in _KINDS}

    def __len__(self) -> int:
        return len(self._order)

    def add(self, signup: PastSignup) -> None:
        """Remember one signup; the oldest added is forgotten beyond capacity."""
        key = (signup.at, signup.who)
        if key in self._seen:
            return
        self._seen.add(key)
        self._order.append(signup)
        insort(self._times, signup.at)
        for kind in _KINDS:
            value = getattr(signup, kind)
            if value is not None:
                insort(self._index[kind].setdefault(value, []), key)
        while len(self._order) > self.capacity:
            self._forget(self._order.popleft())

    def _forget(self, signup: PastSignup) -> None:
        key = (signup.at, signup.who)
        self._seen.discard(key)
        del self._times[bisect_left(self._times, signup.at)]
        for kind in _KINDS:
            value = getattr(signup, kind)
            if value is None:
                continue
            entries = self._index[kind][value]
            del entries[bisect_left(entries, key)]
            if not entries:
                del self._index[kind][value]

    def holders(self, kind: str, value: str | None, since: int | None, until: int, exclude: str) -> set[str]:
        """Distinct signups (emails) other than ``exclude`` with this key, in ``[since, until)`` (ms)."""
        entries = self._index[kind].get(value) if value is not None else None
        if not entries:
            return set()
        lo = 0 if since is None else bisect_left(entries, (since, ""))
        hi = bisect_left(entries, (until, ""))
        return {who for _, who in entries[lo:hi]} - {exclude}

    def distinct(self, kind: str, value: str | None, since: int | None, until: int, exclude: str) -> int:
        """How many :meth:`holders` there are."""
        return len(self.holders(kind, value, since, until, exclude))

    def count_before(self, kind: str, value: str | None, until: int) -> int:
        """Signups with this key before ``until`` (ms)."""
        entries = self._index[kind].get(value) if value is not None else None
        return bisect_left(entries, (until, "")) if entries else 0

    def total_before(self, until: int) -> int:
        """All remembered signups before ``until`` (ms)."""
        return bisect_left(self._times, until)

    def first_at(self) -> int | None:
        """Time of the earliest remembered signup (ms)."""
        return self._times[0] if self._times else None


class FlaggedPatterns:
    """Email local parts of flagged accounts, with when each was flagged, for shape and n-gram lookups."""

    def __init__(self, flagged: list[tuple[str, int | None]]) -> None:
        self._at = [at if at is not None else -1 for _, at in flagged]
        self._grams = [trigrams(local) for local, _ in flagged]
        self._times = sorted(self._at)
        self._shapes: dict[str, list[int]] = {}
        self._postings: dict[str, list[int]] = {}
        for i, (local, _) in enumerate(flagged):
            insort(self._shapes.setdefault(local_shape(local), []), self._at[i])
            for gram in self._grams[i]:
                self._postings.setdefault(gram, []).append(i)

    def __len__(self) -> int:
        return len(self._at)

    def flagged_before(self, until: int, shape: str | None = None) -> int:
        """Flagged by ``until`` (ms): all, or with the given shape."""
        times = self._times if shape is None else self._shapes.get(shape, [])
        return bisect_right(times, until)

    def nearest(self, local: str, until: int) -> float:
        """Highest 3-gram Jaccard similarity to a local part flagged by ``until`` (0 when none)."""
        grams = trigrams(local)
        shared: Counter[int] = Counter()
        for gram in grams:
            for i in self._postings.get(gram, ()):
                if self._at[i] <= until:
                    shared[i] += 1
        return max((n / (len(grams) + len(self._grams[i]) - n) for i, n in shared.items()), default=0.0)


# --- assessment ---------------------------------------------------------------------------

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


def _saturating(count: float, half_at: float, max_score: float) -> float:
    """``max_score`` times ``1 - 2^(-count/half_at)``: half of it at ``half_at``."""
    return max_score * (1.0 - 0.5 ** (count / half_at))


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
                *self._bursts(signup),
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
        score = _saturating(others, rule.half_at, rule.max_score)
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

    def _bursts(self, signup: PastSignup) -> list[Evidence]:
        rules = self.rules.signals.bursts
        window = int(rules.window_minutes * 60_000)
        since = signup.at - window
        found: list[Evidence] = []
        minutes = f"{rules.window_minutes:g} minutes"
        subnet_others = self.history.distinct("subnet", signup.subnet, since, signup.at, signup.who)
        if subnet_others >= rules.subnet.min_others:
            found.append(Evidence(
                "signup.burst.subnet", _burst_score(subnet_others, rules.subnet),
                f"{subnet_others} other signups from the same network (/24 or /48) within {minutes}"))
        payment_others = self.history.distinct("payment", signup.payment, since, signup.at, signup.who)
        if payment_others >= rules.payment.min_others:
            found.append(Evidence(
                "signup.burst.payment", _burst_score(payment_others, rules.payment),
                f"{payment_others} other signups with the same payment card within {minutes}"))
        domain_rule = rules.email_domain
        domain_others = self.history.distinct("domain", signup.domain, since, signup.at, signup.who)
        if domain_others >= domain_rule.min_others:
            expected = self._expected_in_window(signup.domain, since, window)
            if domain_others >= domain_rule.min_ratio * expected:
                found.append(Evidence(
                    "signup.burst.email_domain", _burst_score(domain_others, domain_rule),
                    f"{domain_others} other signups with an email at {signup.domain} within {minutes} "
                    f"(about {expected:.1f} usual)"))
        return found

    def _expected_in_window(self, domain: str | None, since: int, window: int) -> float:
        """Signups a window usually holds for ``domain``, from its rate before the window."""
        first = self.history.first_at()
        if first is None or since <= first:
            return 0.0
        before = self.history.count_before("domain", domain, since)
        return before * window / (since - first)


def _burst_score(others: int, rule: BurstRule) -> float:
    return _saturating(others - rule.min_others + 1, rule.half_at, rule.max_score)


# --- loading ------------------------------------------------------------------------------

_LATEST_RUN_SQL = "SELECT run_id FROM runs ORDER BY finished_at DESC NULLS LAST, started_at DESC LIMIT 1"
_ACCOUNTS_SQL = """
    SELECT account_id, epoch_ms(created_at) AS at, email_local, email_domain, signup_ip, payment_fingerprint
    FROM accounts WHERE created_at IS NOT NULL ORDER BY created_at DESC LIMIT ?
"""
_FLAGGED_SQL = """
    SELECT a.email_local, epoch_ms(d.flagged_at) AS at
    FROM decisions d JOIN accounts a USING (account_id)
    WHERE d.run_id = ? AND d.flagged AND a.email_local IS NOT NULL AND a.email_local <> ''
    ORDER BY d.flagged_at DESC NULLS LAST LIMIT ?
"""


def _history_from(store: Store | None, capacity: int) -> SignupHistory:
    history = SignupHistory(capacity)
    if store is None:
        return history
    rows = store.query(_ACCOUNTS_SQL, [capacity]).to_pylist()
    for row in reversed(rows):
        local, domain, ip = row["email_local"], row["email_domain"], row["signup_ip"]
        domain = domain.lower() if domain else None
        history.add(PastSignup(
            at=row["at"],
            who=f"{local}@{domain}".lower() if local and domain else row["account_id"],
            domain=domain,
            subnet=subnet_of(ip.partition("%")[0]) if ip else None,
            payment=row["payment_fingerprint"],
            shape=local_shape(local) if local else None,
        ))
    return history


def _flagged_from(store: Store | None, limit: int) -> FlaggedPatterns:
    if store is None or limit == 0:
        return FlaggedPatterns([])
    latest = store.query(_LATEST_RUN_SQL).to_pylist()
    if not latest:
        return FlaggedPatterns([])
    rows = store.query(_FLAGGED_SQL, [latest[0]["run_id"], limit]).to_pylist()
    return FlaggedPatterns([(r["email_local"], r["at"]) for r in rows])


def load_signup_assessor(store: Store | None, intel_dir: Path | None, rules_path: Path | None) -> SignupAssessor:
    """Read the rules, IP lists, the store's recent accounts and the latest run's flagged accounts.

    ``store`` may be None (no earlier accounts, no flagged patterns);
    ``intel_dir`` None uses only the bundled IP ranges; ``rules_path`` None the
    shipped ``signup.yaml``. Raises :class:`ConfigError` on invalid rules or lists.
    """
    rules = load_signup_rules(rules_path)
    intel = IpIntel.load(intel_dir)
    history = _history_from(store, rules.history.max_signups)
    flagged = _flagged_from(store, rules.history.max_flagged)
    return SignupAssessor(rules, intel, history, flagged)


__all__ = [
    "PHONE_OR_STRONGER",
    "TIERS",
    "FlaggedPatterns",
    "PastSignup",
    "SignupAssessment",
    "SignupAssessor",
    "SignupHistory",
    "SignupRequest",
    "SignupRules",
    "load_signup_assessor",
    "load_signup_rules",
    "local_shape",
    "trigrams",
]
