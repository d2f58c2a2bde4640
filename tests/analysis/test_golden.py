"""The dev scenario's outputs equal a reviewed digest (``dev_golden.json``): nothing changes them unnoticed.

A change meant to alter detection regenerates the digest with :func:`golden.run_digest` on a fresh ``dev`` run and
says so in its commit (last: the pools of exits shared by accounts flagged on their own, issue 13, session 47: the
same accounts, actions and campaigns; one campaign's 178 pairs linked by a pool too, two others' rotation edges +131
and +15, one's client edges +55).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden import run_digest
from typer.testing import CliRunner

from distillguard.cli import app

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
EXPECTED = Path(__file__).with_name("dev_golden.json")


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "prompts").is_dir(), reason="needs ../shared/data (the dev scenario's corpora)")
def test_dev_outputs_are_unchanged(tmp_path: Path) -> None:
    runner = CliRunner()
    traffic, out = tmp_path / "traffic", tmp_path / "analysis"
    for args in (
        ["simulate", "--scenario", "dev", "--corpus", str(SHARED / "prompts"), "--intel", str(SHARED / "intel"),
         "--out", str(traffic)],
        ["analyze", str(traffic / "exchanges.jsonl"), "--accounts", str(traffic / "accounts.jsonl"),
         "--intel", str(SHARED / "intel"), "--db", str(tmp_path / "store.duckdb"), "--out", str(out)],
    ):
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    found, expected = run_digest(out), json.loads(EXPECTED.read_text())
    assert found["accounts"] == expected["accounts"]
    assert found["campaigns"] == expected["campaigns"]
    assert found["linking_edges"].keys() == expected["linking_edges"].keys()
    for campaign, edges in expected["linking_edges"].items():
        assert found["linking_edges"][campaign].keys() == edges.keys()
        for family, n in edges.items():
            assert abs(found["linking_edges"][campaign][family] - n) <= max(2, 0.05 * n), (campaign, family)
