"""Helpers for the signal tests: small exchange batches written here, never shared corpora."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from distillguard.core.schema import EXCHANGE_SCHEMA
from distillguard.signals import Signal
from distillguard.signals.base import Batch, BatchContext

_DEFAULTS: dict[str, Any] = {
    "ts": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "account_id": "acct",
    "ip": "203.0.113.7",
    "model": "model-x",
    "endpoint": "/v1/messages",
    "api_format": "anthropic",
    "n_messages": 1,
    "n_user_turns": 1,
    "n_tool_results": 0,
    "tool_names": [],
    "n_tool_calls": 0,
}


def build_batch(rows: list[dict[str, Any]]) -> pa.Table:
    """An EXCHANGE_SCHEMA table from partial rows (missing fields get defaults or null)."""
    data: dict[str, list[Any]] = {}
    for field in EXCHANGE_SCHEMA:
        values = []
        for i, row in enumerate(rows):
            if field.name == "request_id":
                values.append(row.get("request_id", f"req-{i}"))
            else:
                values.append(row.get(field.name, _DEFAULTS.get(field.name)))
        data[field.name] = values
    return pa.Table.from_pydict(data, schema=EXCHANGE_SCHEMA)


@dataclass(frozen=True)
class RowCounter(Signal):
    """A signal declaring its inputs whose value is the number of rows of the batch it was computed on."""

    name: str = "rows_seen"
    dtype: pa.DataType = pa.int64()
    inputs = ("prompt", "system")

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        return pa.array([batch.num_rows] * batch.num_rows, type=self.dtype)


def prompts_batch(prompts: list[str | None], systems: list[str | None] | None = None) -> pa.Table:
    systems = systems or [None] * len(prompts)
    return build_batch([{"prompt": p, "system": s} for p, s in zip(prompts, systems, strict=True)])


#: A fixture batch with the awkward cases every signal must survive.
AWKWARD_ROWS: list[dict[str, Any]] = [
    {"prompt": "Think step by step: what is 17 * 23?", "thinking_budget": 16000, "output_tokens": 900,
     "reasoning_tokens": 700, "response_text": "391", "response_reasoning": "17*23 = 391"},
    {"prompt": None, "system": None, "response_text": None, "response_reasoning": None},
    {"prompt": "", "system": "", "response_text": "", "response_reasoning": ""},
    {"prompt": "请一步一步地推理：一个数的三倍加五等于二十，这个数是多少？", "system": "你是一个乐于助人的助手。",
     "reasoning_effort": "high"},
    {"prompt": "Реши уравнение x^2 = 49 и объясни ход решения.", "reasoning_effort": "minimal"},
    {"prompt": "日本語のテキスト。答えだけ教えてください。", "reasoning_effort": "bogus"},
    {"prompt": "안녕하세요 😀 emoji 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0000 nul \ufffd", "n_tool_calls": 2,
     "tool_names": ["search", "fetch"], "n_tool_results": 1},
    {"prompt": "```python\nprint('hi')\n```", "system": "You are a coding assistant.",
     "response_text": "```python\nprint(1)\n```"},
    {"prompt": "x" * 20000, "system": "y " * 5000},
    {"prompt": "   \n\t  ", "tool_names": ["get_weather"]},
]
