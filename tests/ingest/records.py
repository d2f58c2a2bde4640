"""Small record fixtures and checks shared by the ingest tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from distillguard.ingest.readers import ChunkParser, LinePart, RawChunk

TS_ISO = "2026-03-02T09:15:02.114Z"
TS_MS = 1_772_442_902_114

ANTHROPIC_REQUEST: dict[str, Any] = {
    "model": "atlas-2-pro",
    "max_tokens": 1024,
    "system": "You are terse.",
    "thinking": {"type": "enabled", "budget_tokens": 4000},
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Solve x^2 = 4."}]}],
    "tools": [{"name": "calc", "input_schema": {"type": "object"}}],
}
ANTHROPIC_RESPONSE: dict[str, Any] = {
    "content": [
        {"type": "thinking", "thinking": "x is plus or minus 2.", "signature": "sig"},
        {"type": "text", "text": "x = ±2"},
    ],
    "stop_reason": "end_turn",
}
CHAT_REQUEST: dict[str, Any] = {
    "model": "atlas-2-fast",
    "reasoning_effort": "medium",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
    ],
}
CHAT_RESPONSE: dict[str, Any] = {
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "7", "reasoning_content": "Small primes: 2, 3, 5, 7."},
            "finish_reason": "stop",
        }
    ]
}
RESPONSES_REQUEST: dict[str, Any] = {
    "model": "atlas-2-fast",
    "instructions": "Answer in French.",
    "input": "What is the capital of Italy?",
    "reasoning": {"effort": "low"},
    "tools": [{"type": "function", "name": "lookup", "parameters": {}}, {"type": "web_search_preview"}],
}
RESPONSES_RESPONSE: dict[str, Any] = {
    "status": "completed",
    "output": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Capital of Italy is Rome."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Rome."}]},
    ],
    "usage": {"input_tokens": 20, "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 12}},
}


def exchange(**overrides: Any) -> dict[str, Any]:
    """A valid Anthropic Messages exchange record; ``overrides`` replace (``...`` removes) fields."""
    rec: dict[str, Any] = {
        "request_id": "req_1",
        "ts": TS_ISO,
        "account_id": "acct_1",
        "api_key_id": "key_1",
        "ip": "198.51.100.7",
        "user_agent": "anthropic-python/0.49.0",
        "model": "atlas-2-pro",
        "endpoint": "/v1/messages",
        "request": copy.deepcopy(ANTHROPIC_REQUEST),
        "response": copy.deepcopy(ANTHROPIC_RESPONSE),
        "usage": {"input_tokens": 100, "output_tokens": 50},
        "status": 200,
    }
    for key, value in overrides.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


def chat_exchange(**overrides: Any) -> dict[str, Any]:
    """A valid OpenAI Chat Completions exchange record."""
    base = {
        "endpoint": "/v1/chat/completions",
        "model": "atlas-2-fast",
        "ip": "2001:db8::17",
        "request": copy.deepcopy(CHAT_REQUEST),
        "response": copy.deepcopy(CHAT_RESPONSE),
        "usage": {"prompt_tokens": 12, "completion_tokens": 40, "completion_tokens_details": {"reasoning_tokens": 30}},
    }
    base.update(overrides)
    return exchange(**base)


def responses_exchange(**overrides: Any) -> dict[str, Any]:
    """A valid OpenAI Responses API exchange record."""
    base = {
        "endpoint": "/v1/responses",
        "model": "atlas-2-fast",
        "request": copy.deepcopy(RESPONSES_REQUEST),
        "response": copy.deepcopy(RESPONSES_RESPONSE),
        "usage": ...,
    }
    base.update(overrides)
    return exchange(**base)


def account(**overrides: Any) -> dict[str, Any]:
    """A valid account record; ``overrides`` replace (``...`` removes) fields."""
    rec: dict[str, Any] = {
        "account_id": "acct_1",
        "created_at": "2025-11-02T10:00:00Z",
        "category": "research",
        "email_domain": "lab.example.edu",
        "country": "US",
        "payment_fingerprint": "pf_1",
        "signup_ip": "198.51.100.7",
        "verification": "phone",
    }
    for key, value in overrides.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


# --- checks ---------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "docs" / "examples"

#: Values of every JSON type and some empty shapes, put in place of any field by the robustness tests.
ODD_VALUES: list[Any] = [None, 0, -1, 2**40, 1.5, True, "", "x", [], [1], ["x"], {}, {"type": "text"}, [{}], [None]]


def example_lines(name: str) -> list[bytes]:
    """The non-blank lines of a documented example file (none when the examples are absent)."""
    path = EXAMPLES / name
    if not path.is_file():
        return []
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def assert_row_fits(row: dict[str, Any], schema: pa.Schema) -> None:
    """The row has the schema's fields in order, converts to it, and fills every required field."""
    assert list(row) == schema.names
    table = pa.Table.from_pylist([row], schema=schema)
    for f in schema:
        if not f.nullable:
            assert table.column(f.name).null_count == 0, f.name


def assert_subset(row: dict[str, Any], expected: dict[str, Any]) -> None:
    """The row holds the expected values for the expected keys."""
    assert {k: row[k] for k in expected} == expected


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key / index path into a nested record."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replaced(record: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A deep copy of the record with the value at ``path`` replaced."""
    clone = orjson.loads(orjson.dumps(record))
    node = clone
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return clone


def read_items(items: Any) -> tuple[list[dict[str, Any]], list[tuple[int, str | None, str]], list[int], int, int]:
    """The rows, rejects, row lines, lines and bytes read of work items, parsed chunk by chunk (a file's line parts
    numbered as the file's, as ingest does)."""
    parse = ChunkParser()
    rows: list[dict[str, Any]] = []
    rejects: list[tuple[int, str | None, str]] = []
    lines: list[int] = []
    read = size = before = 0
    for item in items:
        batches = [parse(chunk) for chunk in ([item] if isinstance(item, RawChunk) else item.chunks())]
        if isinstance(item, LinePart):
            batches, before = [b.after(before) for b in batches], before + sum(b.lines_read for b in batches)
        for batch in batches:
            rows += batch.table.to_pylist()
            rejects += [(r.line, r.field, r.reason) for r in batch.rejects]
            lines += batch.row_lines
            read += batch.lines_read
            size += batch.bytes_read
    return rows, rejects, lines, read, size
