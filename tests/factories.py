"""Small canonical batches written by the tests themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from distillguard.core.schema import ACCOUNT_SCHEMA, EXCHANGE_SCHEMA
from distillguard.store.migrations import MIGRATIONS

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def exchange(i: int, **over: Any) -> dict[str, Any]:
    """One canonical exchange row; ``over`` replaces fields."""
    row: dict[str, Any] = {
        "request_id": f"req-{i}",
        "ts": T0 + timedelta(minutes=i),
        "account_id": "acct-1",
        "api_key_id": None,
        "org_id": None,
        "ip": "81.2.69.160",
        "user_agent": "anthropic-python/0.49.0",
        "tls_ja4": "t13d1715h2_5b57614c22b0_3d5424432f57",
        "model": "atlas-2-pro",
        "endpoint": "/v1/messages",
        "api_format": "anthropic",
        "system": None,
        "prompt": f"What is {i} plus {i}?",
        "n_messages": 1,
        "n_user_turns": 1,
        "n_tool_results": 0,
        "tool_names": [],
        "thinking_budget": None,
        "reasoning_effort": None,
        "response_text": "The answer.",
        "response_reasoning": None,
        "n_tool_calls": 0,
        "stop_reason": "end_turn",
        "input_tokens": 10,
        "output_tokens": 5,
        "reasoning_tokens": None,
        "status": 200,
        "extra": None,
    }
    row.update(over)
    return row


def exchanges(rows: list[dict[str, Any]]) -> pa.Table:
    """A canonical exchange batch."""
    return pa.Table.from_pylist(rows, schema=EXCHANGE_SCHEMA)


def account(account_id: str, **over: Any) -> dict[str, Any]:
    """One canonical account row."""
    row: dict[str, Any] = {name: None for name in ACCOUNT_SCHEMA.names}
    row.update(account_id=account_id, category="individual", verification="email", created_at=T0 - timedelta(days=30))
    row.update(over)
    return row


def accounts(rows: list[dict[str, Any]]) -> pa.Table:
    """A canonical account batch."""
    return pa.Table.from_pylist(rows, schema=ACCOUNT_SCHEMA)


def store_before(path: Path, marker: str) -> duckdb.DuckDBPyConnection:
    """A store file at ``path`` left at the version before the first migration whose SQL holds ``marker``, open."""
    before = next(i for i, sql in enumerate(MIGRATIONS) if marker in sql)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
    for version, sql in enumerate(MIGRATIONS[:before], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    return con
