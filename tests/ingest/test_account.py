"""normalize_account: shapes, derived fields, and every reject reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from distillguard.core.errors import RecordError
from distillguard.core.schema import ACCOUNT_SCHEMA
from distillguard.ingest import normalize_account

from .records import ODD_VALUES, account, assert_row_fits, assert_subset, example_lines, paths, replaced


@pytest.mark.parametrize("line", example_lines("accounts.jsonl") or [pytest.param(b"", marks=pytest.mark.skip)])
def test_example_account_normalises(line: bytes) -> None:
    assert_row_fits(normalize_account(orjson.loads(line)), ACCOUNT_SCHEMA)


ACCOUNT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "full",
        account(),
        {
            "account_id": "acct_1",
            "created_at": 1_762_077_600_000,
            "category": "research",
            "signup_ip": "198.51.100.7",
            "verification": "phone",
            "extra": None,
        },
    ),
    ("only account_id", {"account_id": "a"}, {"created_at": None, "category": None, "signup_ip": None, "email_local": None}),
    ("epoch created_at", account(created_at=1_762_077_600_000), {"created_at": 1_762_077_600_000}),
    (
        "email split",
        account(email_domain=..., email="Jane.Doe@Lab.Example.EDU"),
        {"email_local": "Jane.Doe", "email_domain": "lab.example.edu"},
    ),
    (
        "case-insensitive vocabularies",
        account(category="Startup", verification=" EMAIL "),
        {"category": "startup", "verification": "email"},
    ),
    ("ipv6 signup ip", account(signup_ip="2001:DB8::0:1"), {"signup_ip": "2001:db8::1"}),
    ("extra kept", account(plan="pro", seats=3), {"extra": '{"plan":"pro","seats":3}'}),
]


@pytest.mark.parametrize(("record", "expected"), [pytest.param(r, e, id=n) for n, r, e in ACCOUNT_CASES])
def test_accounts(record: dict[str, Any], expected: dict[str, Any]) -> None:
    row = normalize_account(record)
    assert_row_fits(row, ACCOUNT_SCHEMA)
    assert_subset(row, expected)


ACCOUNT_REJECTS: list[tuple[str, Any, str | None, str]] = [
    ("not an object", "acct", None, "not a JSON object"),
    ("missing account_id", account(account_id=...), "account_id", "missing required field"),
    ("account_id wrong type", account(account_id=1), "account_id", "expected string, got int"),
    ("naive created_at", account(created_at="2025-11-02T10:00:00"), "created_at", "bad timestamp: no time zone"),
    (
        "unknown category",
        account(category="government"),
        "category",
        "not one of individual, education, research, startup, enterprise",
    ),
    (
        "unknown verification",
        account(verification="dna"),
        "verification",
        "not one of none, email, phone, id_document, business",
    ),
    ("bad signup ip", account(signup_ip="1.2.3"), "signup_ip", "invalid IP address"),
    ("bad email", account(email="nobody"), "email", "invalid email address"),
    ("country wrong type", account(country=1), "country", "expected string, got int"),
]


@pytest.mark.parametrize(("record", "field", "reason"), [pytest.param(r, f, m, id=n) for n, r, f, m in ACCOUNT_REJECTS])
def test_account_rejects(record: Any, field: str | None, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        normalize_account(record)
    assert (info.value.field, info.value.reason) == (field, reason)


def test_odd_values_anywhere_never_crash() -> None:
    base = account(email="a@b.c")
    for path in paths(base):
        for odd in ODD_VALUES:
            try:
                row = normalize_account(replaced(base, path, odd))
            except RecordError:
                continue
            assert_row_fits(row, ACCOUNT_SCHEMA)
