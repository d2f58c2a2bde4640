"""Signup requests: validated and normalised at construction; errors name the field and the record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from distillguard.core.errors import RecordError
from distillguard.policy.signup_request import SignupRequest

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
HOME_IP = "81.2.69.160"


def test_from_mapping_normalises_fields() -> None:
    request = SignupRequest.from_mapping(
        {"category": " Research ", "email_local": "Li.Na1990", "email_domain": "Example.ORG",
         "signup_ip": "2001:DB8:0:0::1", "created_at": "2026-03-02T13:00:00+01:00", "payment_fingerprint": "pf_1"},
        "test",
    )
    assert request.category == "research"
    assert request.email == "Li.Na1990@example.org"
    assert (request.email_local, request.email_domain) == ("Li.Na1990", "example.org")
    assert request.signup_ip == "2001:db8::1"
    assert request.created_at == T0
    assert request.payment_fingerprint == "pf_1" and request.country is None


def test_created_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    request = SignupRequest.from_mapping({"category": "individual", "email": "a@example.org", "signup_ip": HOME_IP}, "t")
    assert before <= request.created_at <= datetime.now(UTC)
    assert request.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signup_ip": "300.1.2.3"}, "signup_ip"),
        ({"signup_ip": 42}, "signup_ip"),
        ({"signup_ip": None}, "signup_ip"),
        ({"category": "guild"}, "category"),
        ({"category": None}, "category"),
        ({"email": "no-at-sign.example.org"}, "email"),
        ({"email": "someone@localhost"}, "email"),
        ({"email": "two words@example.org"}, "email"),
        ({"email": None}, "email"),
        ({"email": None, "email_local": "a", "email_domain": "bad_domain"}, "email_domain"),
        ({"email": None, "email_local": "a b", "email_domain": "example.org"}, "email_local"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": "2026-03-02T12:00:00"}, "created_at"),
        ({"created_at": "1990-01-01T00:00:00Z"}, "created_at"),
        ({"payment_fingerprint": 7}, "payment_fingerprint"),
    ],
)
def test_from_mapping_names_the_bad_field(change: dict, field: str) -> None:
    data = {"category": "individual", "email": "a@example.org", "signup_ip": HOME_IP} | change
    with pytest.raises(RecordError) as info:
        SignupRequest.from_mapping({k: v for k, v in data.items() if v is not None}, "signups.jsonl:7")
    assert info.value.field == field
    assert "signups.jsonl:7" in str(info.value)


def test_constructor_validates_too() -> None:
    with pytest.raises(RecordError, match="signup_ip"):
        SignupRequest("individual", "a@example.org", "not-an-ip", created_at=T0)
    with pytest.raises(RecordError, match="created_at"):
        SignupRequest("individual", "a@example.org", HOME_IP, created_at=datetime(2026, 3, 2))
