"""Shared fixtures of the intel tests: a store analysed from the simulated smoke scenario (read-only use: copy it
before writing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store analysed from the smoke scenario (seed 7): its traffic beside it, under ``traffic/``."""
    root = tmp_path_factory.mktemp("intel-smoke")
    runner = CliRunner()
    args = ["simulate", "--scenario", "smoke", "--out", str(root / "traffic"), "--seed", "7"]
    if (SHARED / "prompts").is_dir():
        args += ["--corpus", str(SHARED / "prompts")]
    for command in (args, ["analyze", str(root / "traffic" / "exchanges.jsonl"), "--accounts",
                           str(root / "traffic" / "accounts.jsonl"), "--db", str(root / "store.duckdb"),
                           "--out", str(root / "analysis")]):
        result = runner.invoke(app, command, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root / "store.duckdb"
