"""A signup to assess: validated and normalised at construction, from code or a JSON-like record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from distillguard.core.errors import RecordError
from distillguard.core.schema import CATEGORIES
from distillguard.ingest.fields import parse_ip, parse_ts

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


__all__ = ["SignupRequest"]
