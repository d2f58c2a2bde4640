"""The smoke scenario simulated and analysed through the CLI: a real store for the tests that read one."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from distillguard.cli import app

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "prompts"


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def analysed_smoke(root: Path) -> Path:
    """Simulate the smoke scenario (seed 7) under ``root / "traffic"``, analyse it into ``root / "analysis"``; the store."""
    args = ["simulate", "--scenario", "smoke", "--out", str(root / "traffic"), "--seed", "7"]
    if CORPUS.is_dir():
        args += ["--corpus", str(CORPUS)]
    _invoke(*args)
    db = root / "store.duckdb"
    _invoke("analyze", str(root / "traffic" / "exchanges.jsonl"), "--accounts", str(root / "traffic" / "accounts.jsonl"),
            "--db", str(db), "--out", str(root / "analysis"))
    return db
