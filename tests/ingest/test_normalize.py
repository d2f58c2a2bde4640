"""normalize_exchange: request and response shapes in each API format, derived fields, and every reject reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from distillguard.core.api import API_PATHS, ApiFormat
from distillguard.core.errors import RecordError
from distillguard.core.schema import EXCHANGE_SCHEMA
from distillguard.ingest import normalize_exchange

from .records import (
    ODD_VALUES,
    assert_row_fits,
    assert_subset,
    chat_exchange,
    example_lines,
    exchange,
    paths,
    replaced,
    responses_exchange,
)


@pytest.mark.parametrize("line", example_lines("exchanges.jsonl") or [pytest.param(b"", marks=pytest.mark.skip)])
def test_example_exchange_normalises(line: bytes) -> None:
    assert_row_fits(normalize_exchange(orjson.loads(line)), EXCHANGE_SCHEMA)


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
    assert_row_fits(row, EXCHANGE_SCHEMA)
    assert_subset(row, expected)


# --- the endpoint map (core.api, shared with the gateway) --------------------------------------

#: A record of each API format; the gateway inspects exactly the paths of API_PATHS.
FORMAT_RECORDS = {ApiFormat.ANTHROPIC: exchange, ApiFormat.CHAT: chat_exchange, ApiFormat.RESPONSES: responses_exchange}
PROVIDERS = {ApiFormat.ANTHROPIC: "anthropic", ApiFormat.CHAT: "openai", ApiFormat.RESPONSES: "openai"}


def test_every_api_format_has_a_record_and_a_path() -> None:
    assert set(FORMAT_RECORDS) == set(ApiFormat) == set(API_PATHS.values())


@pytest.mark.parametrize(("path", "api_format"), list(API_PATHS.items()))
def test_endpoint_map_round_trips_through_ingest(path: str, api_format: ApiFormat) -> None:
    make = FORMAT_RECORDS[api_format]
    given = normalize_exchange(make(endpoint=path))
    found = normalize_exchange(make(endpoint=...))  # the format from the body, the endpoint from the map
    assert (given["endpoint"], given["api_format"]) == (path, PROVIDERS[api_format])
    assert found == given


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
        {
            "response_text": "Rome.",
            "response_reasoning": "Capital of Italy is Rome.",
            "n_tool_calls": 0,
            "stop_reason": "completed",
        },
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
        {
            "response_text": None,
            "response_reasoning": None,
            "n_tool_calls": 0,
            "stop_reason": None,
            "status": 429,
            "input_tokens": None,
        },
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
    assert_row_fits(row, EXCHANGE_SCHEMA)
    assert_subset(row, expected)


def test_usage_is_read_when_given() -> None:
    tokens = ("input_tokens", "output_tokens", "reasoning_tokens")
    assert [normalize_exchange(exchange())[k] for k in tokens] == [100, 50, None]
    assert [normalize_exchange(exchange(usage=...))[k] for k in tokens] == [None, None, None]


def test_usage_inside_response_is_used() -> None:
    row = normalize_exchange(responses_exchange())
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (20, 30, 12)


def test_nested_objects_as_json_strings() -> None:
    rec = chat_exchange()
    as_strings = dict(rec, **{key: orjson.dumps(rec[key]).decode() for key in ("request", "response", "usage")})
    assert normalize_exchange(as_strings) == normalize_exchange(rec)


# --- extra ----------------------------------------------------------------------------------


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
    (
        "missing model",
        exchange(model=..., request={"messages": [{"role": "user", "content": "x"}]}),
        "model",
        "missing required field",
    ),
    ("missing request", exchange(request=...), "request", "missing required field"),
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
    (
        "message with unknown role",
        exchange(request={"messages": [{"role": "robot", "content": "hi"}]}),
        "request",
        "unknown request shape",
    ),
    ("message not an object", exchange(request={"messages": ["hi"]}), "request", "unknown request shape"),
    (
        "user content wrong type",
        exchange(request={"messages": [{"role": "user", "content": 5}]}),
        "request",
        "unknown request shape",
    ),
    ("responses item of no kind", responses_exchange(request={"input": [{"foo": 1}]}), "request", "unknown request shape"),
    (
        "tools not a list",
        exchange(request={"messages": [], "tools": {"name": "x"}}),
        "request.tools",
        "expected list, got object",
    ),
    (
        "budget not an int",
        exchange(request={"messages": [], "thinking": {"budget_tokens": "lots"}}),
        "request.thinking.budget_tokens",
        "expected int, got string",
    ),
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


# --- robustness: any value anywhere gives a row or a RecordError, never another exception ----

ODD_CASES = [("anthropic", exchange), ("chat", chat_exchange), ("responses", responses_exchange)]


@pytest.mark.parametrize("make", [pytest.param(make, id=name) for name, make in ODD_CASES])
def test_odd_values_anywhere_never_crash(make: Any) -> None:
    base = make()
    for path in paths(base):
        for odd in ODD_VALUES:
            try:
                row = normalize_exchange(replaced(base, path, odd))
            except RecordError:
                continue
            assert_row_fits(row, EXCHANGE_SCHEMA)


@pytest.mark.parametrize("record", [exchange(response=...), exchange(response=None, status=200), exchange(response=None)],
                         ids=["no response field", "null response, status 200", "null response"])
def test_request_only_records_are_kept_with_no_response_fields(record: dict) -> None:
    row = normalize_exchange(record)
    assert row["response_text"] is None and row["response_reasoning"] is None
    assert row["n_tool_calls"] == 0 and row["stop_reason"] is None
