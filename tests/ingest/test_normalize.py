"""normalize_exchange / normalize_account: shapes, derived fields, and every reject reason."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from distillguard.core.errors import RecordError
from distillguard.core.schema import ACCOUNT_SCHEMA, EXCHANGE_SCHEMA
from distillguard.ingest import normalize_account, normalize_exchange
from distillguard.ingest.normalize import parse_ip, parse_ts

from .records import (
    TS_ISO,
    TS_MS,
    account,
    chat_exchange,
    exchange,
    responses_exchange,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "docs" / "examples"


def _example_lines(name: str) -> list[bytes]:
    path = EXAMPLES / name
    if not path.is_file():
        return []
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _row_ok(row: dict[str, Any], schema: pa.Schema) -> None:
    assert list(row) == schema.names
    table = pa.Table.from_pylist([row], schema=schema)
    for f in schema:
        if not f.nullable:
            assert table.column(f.name).null_count == 0, f.name


def _subset(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {k: row[k] for k in expected} == expected


# --- the documented examples --------------------------------------------------------------


@pytest.mark.parametrize("line", _example_lines("exchanges.jsonl") or [pytest.param(b"", marks=pytest.mark.skip)])
def test_example_exchange_normalises(line: bytes) -> None:
    _row_ok(normalize_exchange(orjson.loads(line)), EXCHANGE_SCHEMA)


@pytest.mark.parametrize("line", _example_lines("accounts.jsonl") or [pytest.param(b"", marks=pytest.mark.skip)])
def test_example_account_normalises(line: bytes) -> None:
    _row_ok(normalize_account(orjson.loads(line)), ACCOUNT_SCHEMA)


# --- request shapes ------------------------------------------------------------------------

REQUEST_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "anthropic full",
        exchange(),
        {
            "api_format": "anthropic",
            "endpoint": "/v1/messages",
            "system": "You are terse.",
            "prompt": "Solve x^2 = 4.",
            "n_messages": 1,
            "n_user_turns": 1,
            "n_tool_results": 0,
            "tool_names": ["calc"],
            "thinking_budget": 4000,
            "reasoning_effort": None,
        },
    ),
    (
        "anthropic system as text blocks, string content",
        exchange(
            request={
                "system": [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}],
                "messages": [{"role": "user", "content": "hi"}],
            }
        ),
        {"system": "Rule one.\nRule two.", "prompt": "hi", "thinking_budget": None, "tool_names": []},
    ),
    (
        "anthropic pure tool result turn",
        exchange(
            request={
                "messages": [
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "wx", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
                ]
            }
        ),
        {"prompt": "", "n_messages": 3, "n_user_turns": 1, "n_tool_results": 1, "system": None},
    ),
    (
        "anthropic tool result with block content next to text, image, thinking",
        exchange(
            request={
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AA"}}]},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "thinking", "thinking": "hmm", "signature": "s"},
                            {"type": "tool_use", "id": "t1", "name": "wx", "input": {}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "RAIN"}]},
                            {"type": "text", "text": "Summarise."},
                            {"type": "text", "text": "Briefly."},
                        ],
                    },
                ]
            }
        ),
        {"prompt": "Summarise.\nBriefly.", "n_user_turns": 2, "n_tool_results": 1},
    ),
    (
        "openai chat",
        chat_exchange(),
        {
            "api_format": "openai",
            "endpoint": "/v1/chat/completions",
            "system": "Be brief.",
            "prompt": "Name a prime.",
            "n_messages": 2,
            "n_user_turns": 1,
            "reasoning_effort": "medium",
            "thinking_budget": None,
        },
    ),
    (
        "openai chat developer role, parts, tools, tool role",
        chat_exchange(
            request={
                "messages": [
                    {"role": "developer", "content": [{"type": "text", "text": "Dev rule."}]},
                    {"role": "system", "content": "Sys rule."},
                    {"role": "user", "content": "Book a flight."},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "book", "arguments": "{}"}}],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "booked"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Thanks."},
                            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                            {"type": "text", "text": "Now a hotel."},
                        ],
                    },
                ],
                "tools": [
                    {"type": "function", "function": {"name": "book", "parameters": {}}},
                    {"type": "function", "function": {"name": "hotel"}},
                ],
            }
        ),
        {
            "system": "Dev rule.\nSys rule.",
            "prompt": "Thanks.\nNow a hotel.",
            "n_messages": 6,
            "n_user_turns": 2,
            "n_tool_results": 1,
            "tool_names": ["book", "hotel"],
            "reasoning_effort": None,
        },
    ),
    (
        "openai responses, string input",
        responses_exchange(),
        {
            "api_format": "openai",
            "endpoint": "/v1/responses",
            "system": "Answer in French.",
            "prompt": "What is the capital of Italy?",
            "n_messages": 1,
            "n_user_turns": 1,
            "tool_names": ["lookup", "web_search_preview"],
            "reasoning_effort": "low",
        },
    ),
    (
        "openai responses, item list with function call and output",
        responses_exchange(
            request={
                "input": [
                    {"role": "developer", "content": "Dev."},
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
                    {"type": "function_call", "call_id": "c1", "name": "wx", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "snow"},
                ],
                "reasoning": {"effort": "high"},
            }
        ),
        {
            "system": "Dev.",
            "prompt": "Weather in Oslo?",
            "n_messages": 4,
            "n_user_turns": 1,
            "n_tool_results": 1,
            "reasoning_effort": "high",
            "tool_names": [],
        },
    ),
    (
        "no endpoint: anthropic by structure (top-level system)",
        exchange(endpoint=..., request={"system": "S", "messages": [{"role": "user", "content": "q"}]}),
        {"api_format": "anthropic", "endpoint": "/v1/messages", "system": "S"},
    ),
    (
        "no endpoint: anthropic by structure (tool_result block)",
        exchange(
            endpoint=...,
            request={"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]},
        ),
        {"api_format": "anthropic", "endpoint": "/v1/messages", "n_tool_results": 1, "prompt": ""},
    ),
    (
        "no endpoint: openai by structure (system role)",
        chat_exchange(endpoint=...),
        {"api_format": "openai", "endpoint": "/v1/chat/completions"},
    ),
    (
        "no endpoint: responses by structure (input)",
        responses_exchange(endpoint=...),
        {"api_format": "openai", "endpoint": "/v1/responses"},
    ),
    (
        "endpoint with host and query string",
        exchange(endpoint="https://api.example.com/v1/messages?beta=true"),
        {"api_format": "anthropic", "endpoint": "https://api.example.com/v1/messages?beta=true"},
    ),
    (
        "model falls back to request.model",
        exchange(model=...),
        {"model": "atlas-2-pro"},
    ),
    (
        "no user message at all",
        exchange(request={"system": "S", "messages": []}),
        {"prompt": None, "n_messages": 0, "n_user_turns": 0},
    ),
]


@pytest.mark.parametrize(("record", "expected"), [pytest.param(r, e, id=n) for n, r, e in REQUEST_CASES])
def test_request_shapes(record: dict[str, Any], expected: dict[str, Any]) -> None:
    row = normalize_exchange(record)
    _row_ok(row, EXCHANGE_SCHEMA)
    _subset(row, expected)


# --- response shapes and usage -------------------------------------------------------------

RESPONSE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "anthropic text + thinking",
        exchange(),
        {"response_text": "x = ±2", "response_reasoning": "x is plus or minus 2.", "n_tool_calls": 0, "stop_reason": "end_turn"},
    ),
    (
        "anthropic tool_use + redacted thinking",
        exchange(
            response={
                "content": [
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "tool_use", "id": "t1", "name": "calc", "input": {}},
                    {"type": "tool_use", "id": "t2", "name": "calc", "input": {}},
                ],
                "stop_reason": "tool_use",
            }
        ),
        {"response_text": None, "response_reasoning": "", "n_tool_calls": 2, "stop_reason": "tool_use"},
    ),
    (
        "openai chat reasoning_content",
        chat_exchange(),
        {"response_text": "7", "response_reasoning": "Small primes: 2, 3, 5, 7.", "n_tool_calls": 0, "stop_reason": "stop"},
    ),
    (
        "openai chat reasoning field and tool_calls",
        chat_exchange(
            response={
                "choices": [
                    {
                        "message": {
                            "content": None,
                            "reasoning": "Need a tool.",
                            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                        },
                        "finish_reason": "tool_calls",
                    }
                ]
            }
        ),
        {"response_text": None, "response_reasoning": "Need a tool.", "n_tool_calls": 1, "stop_reason": "tool_calls"},
    ),
    (
        "openai responses output",
        responses_exchange(),
        {"response_text": "Rome.", "response_reasoning": "Capital of Italy is Rome.", "n_tool_calls": 0, "stop_reason": "completed"},
    ),
    (
        "openai responses function_call, incomplete",
        responses_exchange(
            response={
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "output": [
                    {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "think"}]},
                    {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                ],
            }
        ),
        {"response_text": None, "response_reasoning": "think", "n_tool_calls": 1, "stop_reason": "max_output_tokens"},
    ),
    (
        "canonical response",
        exchange(response={"text": "Hi", "reasoning": "greet", "tool_calls": [{"name": "x"}], "stop_reason": "end_turn"}),
        {"response_text": "Hi", "response_reasoning": "greet", "n_tool_calls": 1, "stop_reason": "end_turn"},
    ),
    (
        "canonical response with nulls",
        exchange(response={"text": "Hi", "reasoning": None, "tool_calls": None, "stop_reason": "end_turn"}),
        {"response_text": "Hi", "response_reasoning": None, "n_tool_calls": 0},
    ),
    (
        "failed request without response",
        exchange(response=..., status=429, usage=...),
        {"response_text": None, "response_reasoning": None, "n_tool_calls": 0, "stop_reason": None, "status": 429, "input_tokens": None},
    ),
    (
        "failed request with an error body",
        exchange(response={"type": "error", "error": {"type": "overloaded_error"}}, status=529),
        {"response_text": None, "n_tool_calls": 0, "status": 529},
    ),
]


@pytest.mark.parametrize(("record", "expected"), [pytest.param(r, e, id=n) for n, r, e in RESPONSE_CASES])
def test_response_shapes(record: dict[str, Any], expected: dict[str, Any]) -> None:
    row = normalize_exchange(record)
    _row_ok(row, EXCHANGE_SCHEMA)
    _subset(row, expected)


USAGE_CASES = [
    ({"input_tokens": 1, "output_tokens": 2, "reasoning_tokens": 3}, (1, 2, 3)),
    ({"prompt_tokens": 4, "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 6}}, (4, 5, 6)),
    ({"input_tokens": 7, "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 9}}, (7, 8, 9)),
    ({"input_tokens": 10.0, "output_tokens": None}, (10, None, None)),
    ({"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 1}, (125, 1, None)),
    (..., (None, None, None)),
]


@pytest.mark.parametrize(("usage", "expected"), USAGE_CASES)
def test_usage(usage: Any, expected: tuple[Any, ...]) -> None:
    row = normalize_exchange(exchange(usage=usage))
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == expected


def test_usage_inside_response_is_used() -> None:
    row = normalize_exchange(responses_exchange())
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (20, 30, 12)


def test_nested_objects_as_json_strings() -> None:
    rec = chat_exchange()
    as_strings = dict(rec, request=orjson.dumps(rec["request"]).decode(), response=orjson.dumps(rec["response"]).decode(), usage=orjson.dumps(rec["usage"]).decode())
    assert normalize_exchange(as_strings) == normalize_exchange(rec)


# --- timestamps, IPs, extra ----------------------------------------------------------------

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
]


@pytest.mark.parametrize("ts", SAME_INSTANT)
def test_timestamps_convert_to_the_same_utc_instant(ts: Any) -> None:
    assert normalize_exchange(exchange(ts=ts))["ts"] == TS_MS


def test_example_offset_and_epoch_agree() -> None:
    assert parse_ts("2026-03-02T09:20:00+01:00") == parse_ts("2026-03-02T08:20:00Z") == 1_772_439_600_000


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
    assert normalize_exchange(exchange(ip=raw))["ip"] == canonical


def test_ipv6_text_matches_ipaddress_compressed_form() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        groups = [rng.choice((0, 0, 0, 1, 0xFFFF, rng.randrange(65536))) for _ in range(8)]
        addr = ipaddress.IPv6Address(int("".join(f"{g:04x}" for g in groups), 16))
        if addr.ipv4_mapped is not None:
            continue
        for text in (addr.exploded, addr.exploded.upper(), addr.compressed):
            assert parse_ip(text) == addr.compressed


def test_extra_fields_are_kept_as_sorted_json() -> None:
    row = normalize_exchange(exchange(zeta={"b": 1}, alpha="x", gone=None))
    assert row["extra"] == '{"alpha":"x","zeta":{"b":1}}'
    assert normalize_exchange(exchange())["extra"] is None


# --- rejects ---------------------------------------------------------------------------------

REJECT_CASES: list[tuple[str, dict[str, Any] | Any, str | None, str]] = [
    ("not an object", ["a"], None, "not a JSON object"),
    ("missing request_id", exchange(request_id=...), "request_id", "missing required field"),
    ("empty request_id", exchange(request_id=""), "request_id", "empty string"),
    ("missing ts", exchange(ts=...), "ts", "missing required field"),
    ("missing account_id", exchange(account_id=...), "account_id", "missing required field"),
    ("account_id wrong type", exchange(account_id=42), "account_id", "expected string, got int"),
    ("missing ip", exchange(ip=...), "ip", "missing required field"),
    ("missing model", exchange(model=..., request={"messages": [{"role": "user", "content": "x"}]}), "model", "missing required field"),
    ("missing request", exchange(request=...), "request", "missing required field"),
    ("missing response", exchange(response=...), "response", "missing required field"),
    ("missing response, status 200", exchange(response=None, status=200), "response", "missing required field"),
    ("naive timestamp", exchange(ts="2026-03-02T09:15:02"), "ts", "bad timestamp: no time zone"),
    ("date only", exchange(ts="2026-03-02"), "ts", "bad timestamp: no time zone"),
    ("garbage timestamp", exchange(ts="yesterday"), "ts", "bad timestamp: not ISO-8601"),
    ("epoch seconds", exchange(ts=1_772_442_902), "ts", "bad timestamp: out of range (before 2000 or from 2100)"),
    ("epoch after 2100", exchange(ts=4_200_000_000_000), "ts", "bad timestamp: out of range (before 2000 or from 2100)"),
    ("before 2000", exchange(ts="1999-12-31T23:59:59Z"), "ts", "bad timestamp: out of range (before 2000 or from 2100)"),
    ("bool timestamp", exchange(ts=True), "ts", "bad timestamp: expected ISO-8601 string or epoch milliseconds, got bool"),
    ("invalid IPv4", exchange(ip="256.1.1.1"), "ip", "invalid IP address"),
    ("leading zeros", exchange(ip="01.2.3.4"), "ip", "invalid IP address"),
    ("invalid IPv6", exchange(ip="2001:db8:::1"), "ip", "invalid IP address"),
    ("ip wrong type", exchange(ip=3232235777), "ip", "expected string, got int"),
    ("user_agent wrong type", exchange(user_agent=["x"]), "user_agent", "expected string, got list"),
    ("api_key_id wrong type", exchange(api_key_id=1.5), "api_key_id", "expected string, got float"),
    ("model wrong type", exchange(model=7), "model", "expected string, got int"),
    ("endpoint wrong type", exchange(endpoint={"path": "/v1"}), "endpoint", "expected string, got object"),
    ("status wrong type", exchange(status="200"), "status", "expected int, got string"),
    ("status bool", exchange(status=True), "status", "expected int, got bool"),
    ("status out of range", exchange(status=70000), "status", "out of range"),
    ("request wrong type", exchange(request=[1]), "request", "expected object, got list"),
    ("request broken JSON string", exchange(request="{not json"), "request", "broken JSON"),
    ("request without messages or input", exchange(request={"model": "m"}), "request", "unknown request shape"),
    ("messages not a list", exchange(request={"messages": {"role": "user"}}), "request", "unknown request shape"),
    ("message without role", exchange(request={"messages": [{"content": "hi"}]}), "request", "unknown request shape"),
    ("message with unknown role", exchange(request={"messages": [{"role": "robot", "content": "hi"}]}), "request", "unknown request shape"),
    ("message not an object", exchange(request={"messages": ["hi"]}), "request", "unknown request shape"),
    ("user content wrong type", exchange(request={"messages": [{"role": "user", "content": 5}]}), "request", "unknown request shape"),
    ("responses item of no kind", responses_exchange(request={"input": [{"foo": 1}]}), "request", "unknown request shape"),
    ("tools not a list", exchange(request={"messages": [], "tools": {"name": "x"}}), "request.tools", "expected list, got object"),
    ("budget not an int", exchange(request={"messages": [], "thinking": {"budget_tokens": "lots"}}), "request.thinking.budget_tokens", "expected int, got string"),
    ("response of no known shape", exchange(response={"foo": "bar"}), "response", "unknown response shape"),
    ("response wrong type", exchange(response=[1, 2]), "response", "expected object, got list"),
    ("negative tokens", exchange(usage={"input_tokens": -1}), "usage.input_tokens", "out of range"),
    ("usage wrong type", exchange(usage=[1]), "usage", "expected object, got list"),
    ("bad api_format hint", exchange(endpoint=..., api_format="gemini"), "api_format", "not one of anthropic, openai"),
]


@pytest.mark.parametrize(("record", "field", "reason"), [pytest.param(r, f, m, id=n) for n, r, f, m in REJECT_CASES])
def test_rejects(record: Any, field: str | None, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        normalize_exchange(record)
    assert (info.value.field, info.value.reason) == (field, reason)


def test_record_error_message_names_the_field() -> None:
    with pytest.raises(RecordError, match=r"^account_id: expected string, got int$"):
        normalize_exchange(exchange(account_id=42))


# --- accounts ------------------------------------------------------------------------------

ACCOUNT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "full",
        account(),
        {"account_id": "acct_1", "created_at": 1_762_077_600_000, "category": "research", "signup_ip": "198.51.100.7", "verification": "phone", "extra": None},
    ),
    ("only account_id", {"account_id": "a"}, {"created_at": None, "category": None, "signup_ip": None, "email_local": None}),
    ("epoch created_at", account(created_at=1_762_077_600_000), {"created_at": 1_762_077_600_000}),
    ("email split", account(email_domain=..., email="Jane.Doe@Lab.Example.EDU"), {"email_local": "Jane.Doe", "email_domain": "lab.example.edu"}),
    ("case-insensitive vocabularies", account(category="Startup", verification=" EMAIL "), {"category": "startup", "verification": "email"}),
    ("ipv6 signup ip", account(signup_ip="2001:DB8::0:1"), {"signup_ip": "2001:db8::1"}),
    ("extra kept", account(plan="pro", seats=3), {"extra": '{"plan":"pro","seats":3}'}),
]


@pytest.mark.parametrize(("record", "expected"), [pytest.param(r, e, id=n) for n, r, e in ACCOUNT_CASES])
def test_accounts(record: dict[str, Any], expected: dict[str, Any]) -> None:
    row = normalize_account(record)
    _row_ok(row, ACCOUNT_SCHEMA)
    _subset(row, expected)


ACCOUNT_REJECTS: list[tuple[str, Any, str | None, str]] = [
    ("not an object", "acct", None, "not a JSON object"),
    ("missing account_id", account(account_id=...), "account_id", "missing required field"),
    ("account_id wrong type", account(account_id=1), "account_id", "expected string, got int"),
    ("naive created_at", account(created_at="2025-11-02T10:00:00"), "created_at", "bad timestamp: no time zone"),
    ("unknown category", account(category="government"), "category", "not one of individual, education, research, startup, enterprise"),
    ("unknown verification", account(verification="dna"), "verification", "not one of none, email, phone, id_document, business"),
    ("bad signup ip", account(signup_ip="1.2.3"), "signup_ip", "invalid IP address"),
    ("bad email", account(email="nobody"), "email", "invalid email address"),
    ("country wrong type", account(country=1), "country", "expected string, got int"),
]


@pytest.mark.parametrize(("record", "field", "reason"), [pytest.param(r, f, m, id=n) for n, r, f, m in ACCOUNT_REJECTS])
def test_account_rejects(record: Any, field: str | None, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        normalize_account(record)
    assert (info.value.field, info.value.reason) == (field, reason)


# --- robustness: any value anywhere gives a row or a RecordError, never another exception ----

_ODD_VALUES: list[Any] = [None, 0, -1, 2**40, 1.5, True, "", "x", [], [1], ["x"], {}, {"type": "text"}, [{}], [None]]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replaced(record: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = orjson.loads(orjson.dumps(record))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return copy


ODD_CASES = [
    ("anthropic", exchange, normalize_exchange, EXCHANGE_SCHEMA),
    ("chat", chat_exchange, normalize_exchange, EXCHANGE_SCHEMA),
    ("responses", responses_exchange, normalize_exchange, EXCHANGE_SCHEMA),
    ("account", lambda: account(email="a@b.c"), normalize_account, ACCOUNT_SCHEMA),
]


@pytest.mark.parametrize(("make", "normalize", "schema"), [pytest.param(*c[1:], id=c[0]) for c in ODD_CASES])
def test_odd_values_anywhere_never_crash(make: Any, normalize: Any, schema: pa.Schema) -> None:
    base = make()
    for path in _paths(base):
        for odd in _ODD_VALUES:
            record = _replaced(base, path, odd)
            try:
                row = normalize(record)
            except RecordError:
                continue
            pa.Table.from_pylist([row], schema=schema)
            assert all(row[f.name] is not None for f in schema if not f.nullable), path
