"""Shared field parsing: timestamps, IPs, integers, nested objects, texts, tool names, token usage."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from distillguard.core.errors import RecordError
from distillguard.ingest.fields import (
    INT32_MAX,
    as_object,
    extra_json,
    optional_int,
    parse_ip,
    parse_ts,
    parse_usage,
    text_of,
    tool_names,
)

from .records import TS_ISO, TS_MS

# --- timestamps ----------------------------------------------------------------------------

SAME_INSTANT = [
    TS_ISO,
    "2026-03-02T09:15:02.114+00:00",
    "2026-03-02T10:15:02.114+01:00",
    "2026-03-02T04:15:02.114-05:00",
    "2026-03-02T14:45:02.114+05:30",
    "2026-03-02 09:15:02.114999Z",
    TS_MS,
    float(TS_MS),
    str(TS_MS),
    datetime(2026, 3, 2, 9, 15, 2, 114_000, tzinfo=UTC),
]


@pytest.mark.parametrize("ts", SAME_INSTANT)
def test_timestamps_convert_to_the_same_utc_instant(ts: Any) -> None:
    assert parse_ts(ts) == TS_MS


def test_example_offset_and_epoch_agree() -> None:
    assert parse_ts("2026-03-02T09:20:00+01:00") == parse_ts("2026-03-02T08:20:00Z") == 1_772_439_600_000


def test_timestamp_errors_name_the_given_field() -> None:
    with pytest.raises(RecordError) as info:
        parse_ts("2025-11-02T10:00:00", "created_at")
    assert (info.value.field, info.value.reason) == ("created_at", "bad timestamp: no time zone")


# --- IPs ------------------------------------------------------------------------------------

IP_CASES = [
    ("198.51.100.23", "198.51.100.23"),
    ("2001:db8::17", "2001:db8::17"),
    ("2001:0DB8:0000:0000:0000:0000:0000:0017", "2001:db8::17"),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
    ("0:0:0:0:0:0:0:0", "::"),
    ("0:0:0:0:0:0:0:1", "::1"),
    ("fe80:0:0:0:0:0:0:0", "fe80::"),
    ("::ffff:198.51.100.23", "198.51.100.23"),
    ("::FFFF:c633:6417", "198.51.100.23"),
    (" 203.0.113.9 ", "203.0.113.9"),
    ("fe80::1%eth0", "fe80::1%eth0"),
]


@pytest.mark.parametrize(("raw", "canonical"), IP_CASES)
def test_ip_canonical_form(raw: str, canonical: str) -> None:
    assert parse_ip(raw) == canonical


def test_ipv6_text_matches_ipaddress_compressed_form() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        groups = [rng.choice((0, 0, 0, 1, 0xFFFF, rng.randrange(65536))) for _ in range(8)]
        addr = ipaddress.IPv6Address(int("".join(f"{g:04x}" for g in groups), 16))
        if addr.ipv4_mapped is not None:
            continue
        for text in (addr.exploded, addr.exploded.upper(), addr.compressed):
            assert parse_ip(text) == addr.compressed


# --- integers, objects, extra -----------------------------------------------------------------

INT_CASES: list[tuple[Any, int | None, str | None]] = [
    (None, None, None),
    (7, 7, None),
    (7.0, 7, None),
    (0, 0, None),
    (INT32_MAX, INT32_MAX, None),
    (INT32_MAX + 1, None, "out of range"),
    (-1, None, "out of range"),
    (7.5, None, "expected int, got float"),
    (True, None, "expected int, got bool"),
    ("7", None, "expected int, got string"),
]


@pytest.mark.parametrize(("value", "expected", "reason"), INT_CASES)
def test_optional_int(value: Any, expected: int | None, reason: str | None) -> None:
    if reason is None:
        assert optional_int(value, "n", INT32_MAX) == expected
    else:
        with pytest.raises(RecordError) as info:
            optional_int(value, "n", INT32_MAX)
        assert (info.value.field, info.value.reason) == ("n", reason)


def test_as_object_decodes_json_strings() -> None:
    assert as_object('{"a": 1}', "request") == as_object(b'{"a": 1}', "request") == {"a": 1}
    assert as_object("null", "request") is None
    with pytest.raises(RecordError, match="^request: broken JSON$"):
        as_object("{nope", "request")
    with pytest.raises(RecordError, match="^request: expected object, got string$"):
        as_object('"text"', "request")


def test_extra_json_keeps_unknown_non_null_fields_as_sorted_json() -> None:
    known = frozenset({"a"})
    assert extra_json({"a": 1, "zeta": {"b": 1}, "alpha": "x", "gone": None}, known) == '{"alpha":"x","zeta":{"b":1}}'
    assert extra_json({"a": 1, "gone": None}, known) is None


# --- texts and tools ------------------------------------------------------------------------


def test_text_of_joins_text_parts() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image"}, "b", {"type": "output_text", "text": "c"}]
    assert text_of(parts) == "a\nb\nc"
    assert text_of("plain") == "plain"
    assert text_of(None) == ""


def test_tool_names_in_every_format() -> None:
    tools = [
        {"name": "calc", "input_schema": {}},
        {"type": "function", "function": {"name": "book"}},
        {"type": "web_search_preview"},
        {"description": "nameless"},
    ]
    assert tool_names(tools) == ["calc", "book", "web_search_preview"]
    assert tool_names(None) == []


# --- usage ----------------------------------------------------------------------------------

USAGE_CASES = [
    ({"input_tokens": 1, "output_tokens": 2, "reasoning_tokens": 3}, (1, 2, 3)),
    ({"prompt_tokens": 4, "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 6}}, (4, 5, 6)),
    ({"input_tokens": 7, "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 9}}, (7, 8, 9)),
    ({"input_tokens": 10.0, "output_tokens": None}, (10, None, None)),
    (
        {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 1},
        (125, 1, None),
    ),
]


@pytest.mark.parametrize(("usage", "expected"), USAGE_CASES)
def test_usage(usage: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert parse_usage(usage) == expected


@pytest.mark.parametrize("ip", ["1.2.3.4\x00", "a\x00b", "::1\x00"])
def test_an_ip_with_a_nul_is_invalid_not_a_crash(ip: str) -> None:  # found by bench/fuzz.py
    with pytest.raises(RecordError, match="invalid IP address"):
        parse_ip(ip)


def test_an_extra_field_not_writable_as_json_is_rejected_naming_it() -> None:  # found by bench/fuzz.py
    for depth in (254, 300):  # 254: writable alone, one level too deep inside ``extra``
        deep: object = "x"
        for _ in range(depth):
            deep = [deep]
        with pytest.raises(RecordError) as info:
            extra_json({"request_id": "r", "ok": 1, "deep": deep}, frozenset({"request_id"}))
        assert info.value.field == "deep" and info.value.reason.startswith("not writable as JSON")


@pytest.mark.parametrize("repeat", [2, 400])
def test_a_timestamp_of_too_many_digits_is_out_of_range(repeat: int) -> None:  # found by bench/fuzz.py
    with pytest.raises(RecordError, match="out of range"):
        parse_ts("1772442902114" * repeat)
