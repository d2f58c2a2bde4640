"""The Spark engine against the embedded one: the same rejects, the same flagged accounts and campaigns.

Spark runs on ``local[2]`` (one session for the whole test run); every test here is slow (a JVM, a few
dozen Spark jobs). The equality runs end to end through the CLI on the smoke scenario (217 accounts, 4,081
exchanges, two campaigns) against the embedded engine, and on the ``dev`` scenario (298,216 exchanges) against
the embedded engine's outputs pinned by the golden test (``dev_golden.json``, which ``test_golden`` checks
DuckDB still gives): every field of every account decision and campaign the digest covers.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from golden import run_digest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

import factories
from distillguard.accounts import AccountStats, IpIntel
from distillguard.accounts.sketch import SketchKey
from distillguard.analysis.ingest import CONFLICT, ingest
from distillguard.analysis.spark import analyze_spark, spark_session
from distillguard.analysis.spark.exchanges import read_logs
from distillguard.analysis.spark.partials import account_stats
from distillguard.analysis.spark.run import ROOT
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.cli import app
from distillguard.config import Settings
from distillguard.config.settings import IngestLimits
from distillguard.core.ids import text_hash64
from distillguard.core.schema import TEXT_COLUMNS
from distillguard.ingest import RejectSink
from distillguard.policy import load_policy
from distillguard.signals import compute_signals
from distillguard.sim.run import simulate
from distillguard.sim.scenario import load_scenario
from distillguard.store import Store
from distillguard.store.linking import with_indicator_keys
from distillguard.store.results import campaign_members, earlier_flags
from distillguard.store.runs import latest_run_id
from distillguard.store.spark import SparkSql, to_spark_arrow
from ingest.records import exchange
from smoke_store import CORPUS

pytestmark = pytest.mark.slow
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GOLDEN = Path(__file__).with_name("dev_golden.json")


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_bad_records_are_rejected_with_the_embedded_engines_reasons(spark: SparkSession, tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    records = [exchange(request_id=f"r{i}", account_id=f"a{i % 3}") for i in range(6)]
    records[2]["ts"] = "yesterday"  # unreadable time
    del records[4]["account_id"]  # a required field missing
    records.append(exchange(request_id="r1", account_id="mallory", ip="203.0.113.9"))  # r1 again, other content
    records.append(exchange(request_id="r3", account_id="a0"))  # r3 again, exactly
    log.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"{not json\n")

    read = read_logs(spark, [log], batch_size=3, limits=IngestLimits(), signals=None, keep_text=True)
    try:
        kept = sorted(r["request_id"] for r in read.rows.select("request_id").collect())
    finally:
        read.release()
    with Store(tmp_path / "s.duckdb") as store, RejectSink(tmp_path / "rejects.jsonl") as sink:
        counts = ingest(store, [log], [], sink, batch_size=3, keep_text=True, limits=IngestLimits())
    embedded = _lines(tmp_path / "rejects.jsonl")

    assert kept == ["r0", "r1", "r3", "r5"]
    assert (read.lines, read.duplicates) == (counts.lines, counts.duplicates) == (9, 1)
    assert [r.line for r in read.rejects] == [3, 5, 7, 9]
    assert [orjson.loads(r.to_json()) for r in read.rejects] == sorted(embedded, key=lambda r: r["line"])
    assert read.rejects[2].reason == "duplicate request_id with other content (differs in account_id, ip)"


@pytest.mark.parametrize("keep_text", [True, False])
def test_a_repeat_differing_only_in_its_texts_is_judged_as_the_embedded_engine_does(
        spark: SparkSession, tmp_path: Path, keep_text: bool) -> None:
    """Texts are compared by their hashes in Spark: a conflict naming them when kept, a duplicate when not."""
    log = tmp_path / "a.jsonl"
    other = exchange(request_id="r0")
    other["request"]["messages"][0]["content"] = "Solve x^2 = 9."
    other["response"]["content"][1]["text"] = "x = ±3"
    records = [exchange(request_id="r0"), exchange(request_id="r1"), other, exchange(request_id="r1")]
    log.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))

    read = read_logs(spark, [log], batch_size=2, limits=IngestLimits(), signals=None, keep_text=keep_text)
    read.release()
    with Store(tmp_path / "s.duckdb") as store, RejectSink(tmp_path / "rejects.jsonl") as sink:
        counts = ingest(store, [log], [], sink, batch_size=2, keep_text=keep_text, limits=IngestLimits())

    embedded = tmp_path / "rejects.jsonl"
    assert [orjson.loads(r.to_json()) for r in read.rejects] == (_lines(embedded) if embedded.exists() else [])
    assert (read.kept, read.duplicates) == (counts.new, counts.duplicates) == (2, 1 if keep_text else 2)
    if keep_text:
        assert [r.reason for r in read.rejects] == [f"{CONFLICT} (differs in prompt, response_text)"]


def test_a_local_session_gets_two_shuffle_partitions_per_core_unless_told(spark: SparkSession) -> None:
    spark.conf.set("spark.sql.shuffle.partitions", "200")
    try:
        assert spark_session().conf.get("spark.sql.shuffle.partitions") == str(2 * spark.sparkContext.defaultParallelism)
        assert spark_session(shuffle_partitions=3).conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "4")


def test_smoke_scenario_spark_flags_and_links_as_duckdb(spark: SparkSession, tmp_path: Path) -> None:
    traffic = tmp_path / "traffic"
    args = ["simulate", "--scenario", "smoke", "--out", str(traffic), "--seed", "7"]
    _invoke(*args, *(["--corpus", str(CORPUS)] if CORPUS.is_dir() else []))
    runs = {}
    for engine in ("duckdb", "spark"):
        db, out = tmp_path / f"{engine}.duckdb", tmp_path / engine
        _invoke("analyze", str(traffic / "exchanges.jsonl"), "--accounts", str(traffic / "accounts.jsonl"),
                "--db", str(db), "--out", str(out), "--engine", engine)
        with Store(db) as store:
            run = latest_run_id(store)
            assert run is not None
            members = campaign_members(store, run).to_pylist()
            runs[engine] = {
                "flagged": {d["account_id"] for d in _lines(out / "accounts.jsonl") if d["flagged"]},
                "risk": {d["account_id"]: d["risk"] for d in _lines(out / "accounts.jsonl")},
                "campaigns": sorted(sorted(c["accounts"]) for c in _lines(out / "campaigns.jsonl")),
                "stored_flags": set(earlier_flags(store)),
                "stored_campaigns": sorted({r["campaign_id"] for r in members}),
            }
    duck, spark_run = runs["duckdb"], runs["spark"]
    assert len(duck["flagged"]) > 10 and len(duck["campaigns"]) >= 2
    assert spark_run["flagged"] == duck["flagged"]
    assert spark_run["campaigns"] == duck["campaigns"]
    assert spark_run["risk"] == duck["risk"]
    assert spark_run["stored_flags"] == duck["stored_flags"] == duck["flagged"]
    assert spark_run["stored_campaigns"] == duck["stored_campaigns"]


def test_analyze_on_spark_reports_its_phases_adding_up_to_the_run(spark: SparkSession, tmp_path: Path) -> None:
    """The embedded engine's phase names where the step is the same, the Spark actions under them, the assessment's
    steps (its linking candidates read by Spark SQL), every figure non-negative and the phases the whole run."""
    simulate(load_scenario("smoke"), tmp_path / "traffic", None)
    start = time.perf_counter()
    result = analyze_spark(spark, Settings(db=tmp_path / "s.duckdb"), load_policy(), load_campaign_settings(), IpIntel(),
                           [tmp_path / "traffic" / "exchanges.jsonl"], [tmp_path / "traffic" / "accounts.jsonl"],
                           tmp_path / "out", partitions=2)
    elapsed = time.perf_counter() - start

    phases = result.timings.phases
    paths = [p.path for p in phases]
    assert paths[0] == (ROOT,) and "driver process only" in ROOT
    assert [p[1] for p in paths if len(p) == 2] == [
        "ingest", "store tables to Spark", "account fingerprints", "assess", "outputs", "save the run"]
    children = {p[1]: [c[2] for c in paths if len(c) == 3 and c[1] == p[1]] for p in paths if len(p) == 2}
    assert children["ingest"] == ["account records", "read and signals on Spark", "repeated request ids",
                                  "kept rows cached", "rejects written"]
    assert children["account fingerprints"] == ["partials and merge on Spark", "merged statistics on the driver"]
    assert {"features from the statistics", "population signals", "indicators", "linking",
            "campaigns (clustering, group risk)", "decisions", "shared indicators"} <= set(children["assess"])
    assert all(p.wall >= 0 and p.cpu >= 0 for p in phases)
    top = [p for p in phases if len(p.path) == 2]
    assert sum(p.wall for p in top) <= phases[0].wall <= elapsed
    assert sum(p.wall for p in top) >= 0.8 * elapsed - 0.5
    for parent in top:
        assert sum(p.wall for p in phases if p.path[:-1] == parent.path) <= parent.wall
    walls = {p.path[-1]: p.wall for p in phases}
    assert walls["read and signals on Spark"] > 0.1  # the read tasks (a Spark job) are timed, not the plan built


@pytest.mark.skipif(not (SHARED / "prompts").is_dir(), reason="needs ../shared/data (the dev scenario's corpora)")
def test_dev_scenario_spark_gives_the_embedded_engines_outputs(spark: SparkSession, tmp_path: Path) -> None:
    """Spark on ``dev`` (its log cut in two files) gives the decisions (account, risk, action, flag, campaign,
    reasons) and the campaigns (members, risk, confidence, indicators, ...) the golden digest pins for the embedded
    engine on the whole log."""
    traffic, out = tmp_path / "traffic", tmp_path / "analysis"
    _invoke("simulate", "--scenario", "dev", "--corpus", str(SHARED / "prompts"), "--intel", str(SHARED / "intel"),
            "--out", str(traffic))
    logs = tmp_path / "logs"  # a directory of two files: one read task per file, one per core of local[2]
    logs.mkdir()
    lines = (traffic / "exchanges.jsonl").read_bytes().splitlines(keepends=True)
    (logs / "part-0.jsonl").write_bytes(b"".join(lines[:len(lines) // 2]))
    (logs / "part-1.jsonl").write_bytes(b"".join(lines[len(lines) // 2:]))
    del lines
    _invoke("analyze", str(logs), "--accounts", str(traffic / "accounts.jsonl"),
            "--intel", str(SHARED / "intel"), "--db", str(tmp_path / "store.duckdb"), "--out", str(out), "--engine", "spark")
    found, expected = run_digest(out), orjson.loads(GOLDEN.read_bytes())
    assert sum(d["flagged"] for d in _lines(out / "accounts.jsonl")) > 1_000
    differs = "Spark differs from the digest (if test_golden fails too, DuckDB changed; else bench_spark.py shows how)"
    assert found["accounts"] == expected["accounts"], differs
    assert found["campaigns"] == expected["campaigns"], differs
    assert found["linking_edges"].keys() == expected["linking_edges"].keys()
    for campaign, edges in expected["linking_edges"].items():  # float sums in another order: test_golden's tolerance
        assert found["linking_edges"][campaign].keys() == edges.keys()
        for family, n in edges.items():
            assert abs(found["linking_edges"][campaign][family] - n) <= max(2, 0.05 * n), (campaign, family)


def test_indicator_keys_are_the_same_in_both_engines(spark: SparkSession, tmp_path: Path) -> None:
    """Linking orders and breaks ties by the indicators' keys: both engines must give every value the same key."""
    rows = pa.table({"kind": ["ip", "client", "template", "ip"],
                     "value": ["203.0.113.9", "curl/8.5 | t13d1516h2_8daaf6152771", "~0f3aé中", ""]})
    with Store(tmp_path / "store.duckdb").open() as store:
        embedded = with_indicator_keys(store, rows).column("h").to_pylist()
    on_spark = with_indicator_keys(SparkSql(spark), rows).column("h").to_pylist()
    assert [int(h) for h in on_spark] == embedded
    assert len(set(embedded)) == 4


def test_account_statistics_merged_across_partitions_equal_one_pass(spark: SparkSession) -> None:
    """A busy account spans several partitions: its partials, merged in partition order, are one pass's statistics."""
    rows = [factories.exchange(i, account_id="busy" if i % 5 else f"a{i % 3}", ip=f"198.51.100.{i % 7}",
                               ts=factories.T0 + timedelta(seconds=97 * i), n_user_turns=1 + i % 2) for i in range(400)]
    table = factories.exchanges(rows)
    signals = compute_signals(table).drop_columns(["request_id"])
    rids = pa.array([text_hash64(r) for r in table.column("request_id").to_pylist()], pa.uint64())
    joined = pa.Table.from_arrays([*table.columns, *signals.columns, rids],
                                  names=[*table.column_names, *signals.column_names, "rid"])
    key = SketchKey.from_secret(b"a deployment's key")  # sent to the executors with the tasks
    one_pass = AccountStats(key=key)
    one_pass.update(joined.sort_by([("ts", "ascending"), ("rid", "ascending")]))

    merged = account_stats(spark.createDataFrame(to_spark_arrow(joined.drop_columns(list(TEXT_COLUMNS)))), IpIntel(),
                           key, 4)
    assert merged.key == key

    assert len(merged) == 4
    expected, got = one_pass.get().to_pylist(), merged.get().to_pylist()
    assert [r["account_id"] for r in got] == [r["account_id"] for r in expected]
    for want, have in zip(expected, got):
        numbers = [k for k, v in want.items() if isinstance(v, float)]
        assert [have[k] for k in numbers] == pytest.approx([want[k] for k in numbers], rel=1e-12, nan_ok=True)
        assert {k: v for k, v in have.items() if k not in numbers} == {k: v for k, v in want.items() if k not in numbers}
