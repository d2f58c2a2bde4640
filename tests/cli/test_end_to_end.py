"""The commands end to end on the smoke scenario, over real files and a real DuckDB store."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.core.decision import Action
from distillguard.eval.inputs import read_labels, read_predictions
from distillguard.eval.metrics import score_detector

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "prompts"
runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    args = ["simulate", "--scenario", "smoke", "--out", str(out), "--seed", "7"]
    if CORPUS.is_dir():
        args += ["--corpus", str(CORPUS)]
    _invoke(*args)
    return out


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_help_on_every_command() -> None:
    for command in ("simulate", "analyze", "replay", "eval"):
        assert "--help" in _invoke(command, "--help") or "Usage" in _invoke(command, "--help")


def test_analyze_writes_the_output_contract(traffic: Path, tmp_path: Path) -> None:
    out = tmp_path / "analysis"
    db = tmp_path / "s.duckdb"
    summary = _invoke("analyze", str(traffic / "exchanges.jsonl"), "--accounts", str(traffic / "accounts.jsonl"),
                      "--db", str(db), "--out", str(out))
    assert "exchanges stored" in summary
    assert re.search(r"phases.*account fingerprints.*assess.*linking.*save the run", summary, re.S), summary
    accounts = _lines(out / "accounts.jsonl")
    labels = {r["account_id"] for r in _lines(traffic / "labels.jsonl")}
    assert {a["account_id"] for a in accounts} == labels
    for a in accounts:
        assert set(a) == {"account_id", "risk", "action", "flagged", "campaign_id", "flagged_at", "reasons",
                          "evidence", "decided_at"}
        assert [e["reason"] for e in a["evidence"]] == a["reasons"]
        assert all(e["detector"] and 0.0 <= e["score"] <= 1.0 for e in a["evidence"])
        assert 0.0 <= a["risk"] <= 1.0
        assert a["action"] in {action.value for action in Action}
        assert a["flagged"] == (a["action"] not in {"allow", "monitor"})
        assert (a["flagged_at"] is not None) == a["flagged"]
    for c in _lines(out / "campaigns.jsonl"):
        for key in ("campaign_id", "accounts", "n_exchanges", "first_seen", "last_seen", "capabilities",
                    "confidence", "indicators"):
            assert key in c
    # re-running on the same logs stores nothing new
    again = _invoke("analyze", str(traffic / "exchanges.jsonl"), "--db", str(db), "--out", str(tmp_path / "again"))
    n_lines = sum(1 for line in (traffic / "exchanges.jsonl").read_text().splitlines() if line.strip())
    assert re.search(rf"exchanges stored \(new / duplicate\)\D+0 / {n_lines:,}", again), again
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*) FROM exchanges").fetchall()[0][0] == n_lines
    assert con.sql("SELECT count(*) FROM signals").fetchall()[0][0] == n_lines
    assert con.sql("SELECT count(*) FROM runs").fetchall()[0][0] == 2
    assert con.sql("SELECT count(*) FROM account_features").fetchall()[0][0] == len(accounts)
    assert con.sql("SELECT count(DISTINCT run_id) FROM decisions").fetchall()[0][0] == 2
    con.close()


def test_analyze_detects_the_smoke_campaigns_and_spares_legitimate_users(traffic: Path, tmp_path: Path) -> None:
    out = tmp_path / "analysis"
    _invoke("analyze", str(traffic / "exchanges.jsonl"), "--accounts", str(traffic / "accounts.jsonl"),
            "--db", str(tmp_path / "d.duckdb"), "--out", str(out))
    labels = read_labels(traffic / "labels.jsonl")
    predictions, _ = read_predictions(out, labels)
    counted = ~labels.is_attack | (labels.n_exchanges >= 5)  # an attack account of under 5 requests proves little
    metrics = score_detector(predictions, labels, subset=counted)
    assert metrics.n_attack >= 20 and metrics.n_legit >= 100  # enough accounts for the rates to mean something
    assert len(metrics.campaigns) >= 3
    for campaign in metrics.campaigns:  # on seed 7: 36 / 36, 6 / 6 and 5 / 5
        assert campaign.recall >= 0.9, campaign
    assert metrics.fpr is not None and metrics.fpr <= 0.01, metrics.population_fpr  # on seed 7: 0 / 154


def test_replay_fills_flagged_at_at_interval_ends(traffic: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay"
    summary = _invoke("replay", str(traffic / "exchanges.jsonl"), "--accounts", str(traffic / "accounts.jsonl"),
                      "--every", "6h", "--db", str(tmp_path / "r.duckdb"), "--out", str(out))
    assert re.search(r"phases.*re-decide every 6:00:00.*assess", summary, re.S), summary
    steps = _lines(out / "replay.jsonl")
    ends = {s["at"] for s in steps}
    assert len(steps) >= 2
    for a in _lines(out / "accounts.jsonl"):
        if a["flagged"]:
            assert a["flagged_at"] in ends


def test_eval_prints_the_table(traffic: Path, tmp_path: Path) -> None:
    out = tmp_path / "analysis"
    _invoke("analyze", str(traffic / "exchanges.jsonl"), "--accounts", str(traffic / "accounts.jsonl"),
            "--db", str(tmp_path / "e.duckdb"), "--out", str(out))
    _invoke("eval", "--predictions", str(out), "--labels", str(traffic / "labels.jsonl"),
            "--logs", str(traffic / "exchanges.jsonl"))
    report = json.loads((out / "eval.json").read_text())
    assert report


def test_bad_input_is_set_aside_and_strict_stops(traffic: Path, tmp_path: Path) -> None:
    log = tmp_path / "mixed.jsonl"
    good = (traffic / "exchanges.jsonl").read_text().splitlines()[:50]
    log.write_text("\n".join(good[:25] + ["{broken json", '{"request_id": 5}'] + good[25:]) + "\n")
    out = tmp_path / "analysis"
    _invoke("analyze", str(log), "--db", str(tmp_path / "b.duckdb"), "--out", str(out))
    rejects = _lines(out / "rejects.jsonl")
    assert [r["line"] for r in rejects] == [26, 27]
    assert all(r["file"] == str(log) and r["reason"] for r in rejects)
    result = runner.invoke(app, ["analyze", str(log), "--strict", "--db", str(tmp_path / "c.duckdb"),
                                 "--out", str(tmp_path / "strict")])
    assert result.exit_code == 2
    assert "26" in result.output


def test_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "x.duckdb"),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output


@pytest.mark.slow
def test_killed_ingest_leaves_a_consistent_store_and_rerun_completes(traffic: Path, tmp_path: Path) -> None:
    log = tmp_path / "big.jsonl"
    lines = [line for line in (traffic / "exchanges.jsonl").read_text().splitlines() if line.strip()]
    order: list[str] = []
    with log.open("w") as fh:  # many copies with distinct request ids: enough batches to be killed mid-way
        for copy in range(24):
            for line in lines:
                record = json.loads(line)
                record["request_id"] = f"{record['request_id']}-{copy}"
                order.append(record["request_id"])
                fh.write(json.dumps(record) + "\n")
    total = len(lines) * 24
    db = tmp_path / "k.duckdb"
    cmd = [sys.executable, "-m", "distillguard.cli", "analyze", str(log), "--db", str(db),
           "--out", str(tmp_path / "o"), "--batch-size", "500"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = db.with_name(db.name + ".wal")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # kill once a few batches are written
        size = sum(p.stat().st_size for p in (db, wal) if p.exists())
        if size > 3_000_000:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "analyze finished before it could be killed; make the log bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    con = duckdb.connect(str(db))
    n_ex, n_sig = con.sql("SELECT (SELECT count(*) FROM exchanges), (SELECT count(*) FROM signals)").fetchall()[0]
    stored = {r for (r,) in con.sql("SELECT request_id FROM exchanges").fetchall()}
    con.close()
    # the store commits whole transactions, in file order: none, or whole ones, survive a kill
    assert 0 <= n_ex < total and n_ex == n_sig and stored == set(order[:n_ex])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*), count(DISTINCT request_id) FROM exchanges").fetchall()[0] == (total, total)
    assert con.sql("SELECT count(*) FROM signals").fetchall()[0][0] == total
    con.close()


def test_prompt_sets_mark_the_exchanges_that_sweep_them(traffic: Path, tmp_path: Path) -> None:
    log, accounts = str(traffic / "exchanges.jsonl"), str(traffic / "accounts.jsonl")
    _invoke("analyze", log, "--accounts", accounts, "--db", str(tmp_path / "plain.duckdb"), "--out", str(tmp_path / "a"))
    with duckdb.connect(str(tmp_path / "plain.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(sweep_item) FROM signals").fetchall()[0][0] == 0
        prompts = [p for (p,) in con.sql(
            "SELECT DISTINCT prompt FROM exchanges WHERE length(prompt) > 80 ORDER BY prompt LIMIT 25").fetchall()]
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "known.jsonl").write_text("".join(json.dumps({"kind": "distill", "turns": [p]}) + "\n" for p in prompts))
    _invoke("analyze", log, "--accounts", accounts, "--db", str(tmp_path / "swept.duckdb"), "--out", str(tmp_path / "b"),
            "--prompt-sets", str(sets))
    with duckdb.connect(str(tmp_path / "swept.duckdb"), read_only=True) as con:
        swept = con.sql("SELECT DISTINCT e.prompt FROM signals s JOIN exchanges e USING (rid) "
                        "WHERE s.sweep_item IS NOT NULL").fetchall()
        shares = con.sql("SELECT max(sweep_share) FROM account_features").fetchall()[0][0]
    assert {p for (p,) in swept} >= set(prompts)
    assert shares > 0
