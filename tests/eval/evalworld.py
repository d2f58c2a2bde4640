"""Small hand-made worlds for the evaluation tests: labels, predictions, exchange tables.

Imported by conftest.py (fixtures) and by the test modules (case tables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from distillguard.core.ids import text_hash64
from distillguard.core.schema import EXCHANGE_SCHEMA
from distillguard.eval.inputs import ExchangeLog, Labels, exchange_log_from_tables

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE_MS = 60_000


def iso(minutes: float) -> str:
    """ISO time ``minutes`` after T0."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def exchange_table(rows: list[tuple[str, int, str | None]]) -> pa.Table:
    """An EXCHANGE_SCHEMA table from ``(account_id, ts_ms, prompt)`` rows; a stand-in for ingest."""
    n = len(rows)
    columns: dict[str, Any] = {name: [None] * n for name in EXCHANGE_SCHEMA.names}
    columns["request_id"] = [f"req_{i}" for i in range(n)]
    columns["ts"] = [ts for _, ts, _ in rows]
    columns["account_id"] = [a for a, _, _ in rows]
    columns["prompt"] = [p for _, _, p in rows]
    columns["ip"] = ["198.51.100.1"] * n
    columns["model"] = ["atlas-2-pro"] * n
    columns["endpoint"] = ["/v1/messages"] * n
    columns["api_format"] = ["anthropic"] * n
    for name in ("n_messages", "n_user_turns", "n_tool_calls", "n_tool_results"):
        columns[name] = [1] * n
    columns["tool_names"] = [[] for _ in range(n)]
    return pa.Table.from_pydict(columns, schema=EXCHANGE_SCHEMA)


# The reference world of the metric tests (times in minutes after T0):
#   attack campaign C1: a1, a2, a3 with 10 exchanges each at minutes 0..9
#   attack campaign C2: a4 with 20 exchanges at minutes 0..19
#   legit individual: l1..l4, legit students: l5, l6 — 5 exchanges each at minutes 0..4
WORLD_LABELS = [
    *({"account_id": f"a{i}", "label": "attack", "population": "campaign", "campaign": "C1",
       "n_exchanges": 10} for i in (1, 2, 3)),
    {"account_id": "a4", "label": "attack", "population": "campaign", "campaign": "C2",
     "n_exchanges": 20},
    *({"account_id": f"l{i}", "label": "legit", "population": "individual", "campaign": None,
       "n_exchanges": 5} for i in (1, 2, 3, 4)),
    *({"account_id": f"l{i}", "label": "legit", "population": "students", "campaign": None,
       "n_exchanges": 5} for i in (5, 6)),
]


def world_exchanges() -> list[tuple[str, int, str | None]]:
    start = int(T0.timestamp() * 1000)
    rows = []
    for rec in WORLD_LABELS:
        for k in range(rec["n_exchanges"]):
            rows.append((rec["account_id"], start + k * MINUTE_MS, f"{rec['account_id']} q{k}"))
    return rows


@pytest.fixture
def world_labels() -> Labels:
    return Labels.from_records(WORLD_LABELS)


@pytest.fixture
def world_labels_path(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "labels.jsonl", WORLD_LABELS)


@pytest.fixture
def world_log(world_labels: Labels) -> ExchangeLog:
    return exchange_log_from_tables([exchange_table(world_exchanges())], world_labels, with_prompts=True)


@pytest.fixture
def write_predictions(tmp_path: Path) -> Callable[..., Path]:
    """Write ``accounts.jsonl`` from ``{account: (flagged, campaign_id, flagged_at)}``."""

    def write(verdicts: dict[str, tuple[bool, str | None, str | None]], name: str = "pred") -> Path:
        rows = [
            {"account_id": a, "risk": 0.9 if f else 0.1, "action": "block" if f else "allow",
             "flagged": f, "campaign_id": c, "flagged_at": t, "reasons": []}
            for a, (f, c, t) in verdicts.items()
        ]
        directory = tmp_path / name
        write_jsonl(directory / "accounts.jsonl", rows)
        return directory

    return write


def write_raw_log(path: Path, rows: list[tuple[str, int, str | None]]) -> Path:
    """A JSONL exchange log in a raw shape the ingest readers take (Anthropic Messages request)."""
    return write_jsonl(path, (
        {"request_id": f"req_{i}", "ts": ts, "account_id": a, "ip": "198.51.100.1",
         "model": "atlas-2-pro", "endpoint": "/v1/messages",
         "request": {"messages": [{"role": "user", "content": p or ""}]},
         "response": {"text": "ok", "stop_reason": "end_turn"}}
        for i, (a, ts, p) in enumerate(rows)
    ))


class HashEncoder:
    """A deterministic stand-in encoder: a unit vector seeded by the text's hash."""

    name = "hash-encoder"

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim
        self.calls = 0
        self.texts = 0

    def encode(self, texts):
        self.calls += 1
        self.texts += len(texts)
        out = np.stack([np.random.default_rng(text_hash64(t)).normal(size=self.dim) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)
