"""The analysis does not depend on the order of its input rows: a lake gives them in any order.

The smoke scenario (217 accounts, 4,081 exchanges, two campaigns) is analysed as simulated (exchanges in time
order) and with its exchange and account records shuffled, from JSONL and from Parquet of several row groups:
every field of every decision and campaign the golden digest covers agrees, and each campaign's linking edges
per family within the golden test's tolerance (DuckDB's parallel float sums).
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from golden import run_digest
from typer.testing import CliRunner

from distillguard.cli import app
from smoke_store import CORPUS


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _shuffled_lines(path: Path, out: Path, seed: int) -> Path:
    lines = path.read_bytes().splitlines(keepends=True)
    random.Random(seed).shuffle(lines)
    out.write_bytes(b"".join(lines))
    return out


def _shuffled_parquet(path: Path, out: Path, seed: int) -> Path:
    table = pq.read_table(path)
    order = list(range(table.num_rows))
    random.Random(seed).shuffle(order)
    pq.write_table(table.take(order), out, row_group_size=1_000)
    return out


def _analyse(log: Path, accounts: Path, root: Path, name: str) -> dict[str, object]:
    out = root / name
    _invoke("analyze", str(log), "--accounts", str(accounts), "--db", str(root / f"{name}.duckdb"), "--out", str(out))
    return run_digest(out)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_shuffled_rows_give_the_same_decisions_and_campaigns(tmp_path: Path, fmt: str) -> None:
    traffic = tmp_path / "traffic"
    args = ["simulate", "--scenario", "smoke", "--out", str(traffic), "--seed", "7", "--format", fmt]
    _invoke(*args, *(["--corpus", str(CORPUS)] if CORPUS.is_dir() else []))
    log, accounts = traffic / f"exchanges.{fmt}", traffic / "accounts.jsonl"
    shuffle = _shuffled_parquet if fmt == "parquet" else _shuffled_lines

    in_order = _analyse(log, accounts, tmp_path, "in_order")
    shuffled = _analyse(shuffle(log, tmp_path / f"shuffled.{fmt}", 11),
                        _shuffled_lines(accounts, tmp_path / "accounts.jsonl", 12), tmp_path, "shuffled")

    assert in_order["campaigns"]["rows"] >= 2  # type: ignore[index]
    assert shuffled["accounts"] == in_order["accounts"]
    assert shuffled["campaigns"] == in_order["campaigns"]
    found, expected = shuffled["linking_edges"], in_order["linking_edges"]
    assert isinstance(found, dict) and isinstance(expected, dict) and found.keys() == expected.keys()
    for campaign, edges in expected.items():
        assert found[campaign].keys() == edges.keys(), campaign
        for family, n in edges.items():
            assert abs(found[campaign][family] - n) <= max(2, 0.05 * n), (campaign, family)
