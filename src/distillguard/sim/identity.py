"""Accounts: ids, emails, payment fingerprints, countries and time zones."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from distillguard.sim.clients import Client
from distillguard.sim.data import load_data

_ALPHA = "abcdefghijklmnopqrstuvwxyz234567"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DAY_MS = 86_400_000


_ALPHA_TABLE = bytes(_ALPHA[i % len(_ALPHA)].encode()[0] for i in range(256))
_B62_TABLE = bytes(_B62[i % len(_B62)].encode()[0] for i in range(256))


def rand_id(rng: random.Random, prefix: str, n: int = 20) -> str:
    """``prefix`` + ``n`` random lower-case base-32 characters."""
    return prefix + rng.randbytes(n).translate(_ALPHA_TABLE).decode()


def b62(rng: random.Random, n: int) -> str:
    """``n`` random base-62 characters (message and tool-call ids)."""
    return rng.randbytes(n).translate(_B62_TABLE).decode()


@dataclass(slots=True)
class Account:
    """An account with its metadata and the traits its traffic draws on."""

    id: str
    created_ms: int
    category: str
    email_domain: str
    email_local: str
    country: str
    payment_fp: str | None
    signup_ip: str
    verification: str
    group: str
    label: str
    campaign: str | None
    tz: float
    client: Client
    keys: tuple[str, ...]
    org_id: str | None = None
    gateway: int = 0  # how its gateway logs: exchange.GATEWAY_*
    ips: list[str] = field(default_factory=list)
    n_exchanges: int = 0

    def record(self) -> dict:
        """The ``accounts.jsonl`` line."""
        return {
            "account_id": self.id,
            "created_at": iso_ms(self.created_ms),
            "category": self.category,
            "email_domain": self.email_domain,
            "email_local": self.email_local,
            "country": self.country,
            "payment_fingerprint": self.payment_fp,
            "signup_ip": self.signup_ip,
            "verification": self.verification,
        }


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class People:
    """Draws personal traits from world.yaml."""

    def __init__(self) -> None:
        world = load_data("world")
        self.countries: dict[str, dict] = world["countries"]
        self.first: list[str] = world["first_names"]
        self.last: list[str] = world["last_names"]
        self.disposable: list[str] = world["disposable_domains"]
        self.company = world["company_words"]
        self.universities: list[dict] = world["universities"]
        self._cnames = sorted(self.countries)
        self._cweights = [self.countries[c]["weight"] for c in self._cnames]

    def country(self, rng: random.Random, weights: dict[str, float] | None = None) -> str:
        """A country code, world-weighted or from ``weights``."""
        if weights:
            keys = sorted(weights)
            return rng.choices(keys, weights=[weights[k] for k in keys])[0]
        return rng.choices(self._cnames, weights=self._cweights)[0]

    def tz(self, rng: random.Random, country: str) -> float:
        """A UTC offset in hours for someone in ``country``."""
        return float(rng.choice(self.countries.get(country, self.countries["US"])["tz"]))

    def webmail(self, rng: random.Random, country: str) -> str:
        """A consumer mail domain typical of ``country``."""
        mail = self.countries.get(country, self.countries["US"])["mail"]
        keys = sorted(mail)
        return rng.choices(keys, weights=[mail[k] for k in keys])[0]

    def person_local(self, rng: random.Random) -> str:
        """An email local part built from a name, the way people pick them."""
        f, last = rng.choice(self.first), rng.choice(self.last)
        r = rng.random()
        if r < 0.3:
            return f"{f}.{last}"
        if r < 0.45:
            return f"{f[0]}{last}"
        if r < 0.6:
            return f"{f}{last}{rng.randint(1, 99)}"
        if r < 0.7:
            return f"{f}_{last}"
        if r < 0.8:
            return f"{f}{rng.randint(1970, 2007)}"
        if r < 0.9:
            return f"{f}.{last}{rng.randint(1, 9)}"
        return f"{last}.{f}"

    def company_domain(self, rng: random.Random) -> str:
        """A made-up company domain."""
        c = self.company
        sep = rng.choice(["", "-", ""])
        return f"{rng.choice(c['first'])}{sep}{rng.choice(c['second'])}.{rng.choice(c['tld'])}"

    def university(self, rng: random.Random, domain: str | None = None) -> dict:
        """A university record (by domain, or random)."""
        if domain is not None:
            for u in self.universities:
                if u["domain"] == domain:
                    return u
            raise KeyError(domain)
        return rng.choice(self.universities)


def payment_fp(rng: random.Random) -> str:
    """A payment-method fingerprint."""
    return f"pf_{rng.getrandbits(48):012x}"


def verification_for(rng: random.Random, category: str) -> str:
    """How a legitimate account of ``category`` was verified."""
    table = {
        "individual": (("email", 0.55), ("phone", 0.35), ("id_document", 0.05), ("none", 0.05)),
        "education": (("email", 0.8), ("phone", 0.15), ("none", 0.05)),
        "research": (("email", 0.6), ("phone", 0.3), ("id_document", 0.1)),
        "startup": (("email", 0.4), ("phone", 0.35), ("business", 0.25)),
        "enterprise": (("business", 0.8), ("phone", 0.1), ("email", 0.1)),
    }[category]
    return rng.choices([t[0] for t in table], weights=[t[1] for t in table])[0]


def account_age_ms(rng: random.Random, min_days: float = 1, max_days: float = 1100) -> int:
    """Age at the scenario start: heavy-tailed between ``min_days`` and ``max_days``."""
    days = min_days + rng.paretovariate(1.1) * 20 - 20 + rng.random() * 60
    if days > max_days:
        days = max_days - rng.random() * (max_days - min_days) * 0.3
    return int(max(min_days, days) * DAY_MS)
