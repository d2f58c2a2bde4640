"""Shared fixtures: one smoke run (built-in corpus) reused by the read-only tests."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from distillguard.sim import SimSummary, load_scenario, simulate

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL file."""
    with path.open("rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimSummary, list[int]]:
    """The smoke scenario on the built-in corpus: (out dir, summary, progress calls)."""
    out = tmp_path_factory.mktemp("smoke")
    calls: list[int] = []
    summary = simulate(load_scenario("smoke"), out, None, progress=calls.append)
    return out, summary, calls


@pytest.fixture(scope="session")
def smoke_records(smoke_run: tuple[Path, SimSummary, list[int]]) -> list[dict]:
    """The smoke run's exchange records."""
    return read_jsonl(smoke_run[0] / "exchanges.jsonl")
