"""Benchmark analyze on Spark (local mode) beside the embedded DuckDB engine on the same logs, in one run.

    python bench/bench_spark.py --scenario dev --work /tmp/bench_spark
    python bench/bench_spark.py --log /tmp/x/exchanges.jsonl --accounts /tmp/x/accounts.jsonl --files 4
    python bench/bench_spark.py --graph-sizes 10000,100000,1000000

Simulates the scenario (or takes ``--log``), cuts the log into ``--files`` files of consecutive lines (the
Spark engine reads one file per task, as it reads a directory of Parquet files), then analyses those files
with the embedded engine and with the Spark engine (``--master``, ``local[2]`` by default; the session is
started, and timed, before), each into a fresh store. Prints each phase's wall time and exchanges per second,
each engine's total and their ratio, and whether both flagged the same accounts and found campaigns with the
same members.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from distillguard.accounts import IpIntel
from distillguard.analysis import AnalysisResult, analyze
from distillguard.analysis.run import Advance
from distillguard.analysis.spark import analyze_spark, spark_session
from distillguard.campaigns.cluster import detect_communities
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import Settings, load_settings, with_overrides
from distillguard.policy import load_policy

BIN = Path(sys.executable).parent / "distillguard"


class Phases:
    """A progress factory that keeps each phase's wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str, total: int) -> Iterator[Advance]:
        start = time.perf_counter()
        yield lambda n: None
        self.seconds[name] = time.perf_counter() - start


def _split(log: Path, parts: int, out: Path) -> list[Path]:
    """``log`` cut into ``parts`` files of consecutive lines (fewer if it has fewer lines)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    lines = [line for line in log.read_bytes().splitlines(keepends=True) if line.strip()]
    size = -(-len(lines) // parts)
    files = []
    for i in range(0, len(lines), size):
        path = out / f"part-{i // size:03d}.jsonl"
        path.write_bytes(b"".join(lines[i:i + size]))
        files.append(path)
    return files


def _settings(work: Path, engine: str, intel: Path | None) -> Settings:
    db = work / f"{engine}.duckdb"
    for path in (db, Path(f"{db}.wal")):
        path.unlink(missing_ok=True)
    top: dict[str, object] = {"db": db, **({"intel_dir": intel} if intel else {})}
    return with_overrides(load_settings(None), "bench", **top)


def _flags(result: AnalysisResult) -> tuple[set[str], list[list[str]]]:
    if result.assessment is None:
        return set(), []
    flagged = {d.account_id for d in result.assessment.decisions if d.flagged}
    return flagged, sorted(sorted(c.accounts) for c in result.assessment.campaigns)


def synthetic_edges(accounts: int, seed: int = 0) -> pl.DataFrame:
    """``a, b, weight, strong`` (none strong): campaigns of 50 accounts (2 % of them), each member linked to 10
    others of its campaign, and every other account linked once to a random account (a shared exit)."""
    rng = np.random.default_rng(seed)
    attackers = accounts // 50 // 50 * 50
    members = np.arange(attackers)
    camp_a = np.repeat(members, 10)
    camp_b = (camp_a // 50) * 50 + rng.integers(0, 50, len(camp_a))
    legit = np.arange(attackers, accounts)
    a = np.concatenate([camp_a, legit])
    b = np.concatenate([camp_b, rng.integers(attackers, accounts, len(legit))])
    keep = a != b
    names = np.char.add("acct_", np.arange(accounts).astype(str))
    return pl.DataFrame({"a": names[a[keep]], "b": names[b[keep]],
                         "weight": rng.uniform(0.3, 1.0, int(keep.sum())), "strong": np.zeros(int(keep.sum()), bool)})


def _graph(accounts: int) -> None:
    edges = synthetic_edges(accounts)
    start = time.perf_counter()
    communities = detect_communities(edges, 0, load_campaign_settings().cluster.resolution)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{accounts},{edges.height},{len(communities.cells)},{seconds:.2f},{rss:.0f}")


def _graphs(sizes: list[int], console: Console) -> None:
    table = Table(title="Leiden communities on the driver, synthetic account graphs (machine shared)")
    for column in ("accounts", "edges", "communities", "seconds", "peak RSS MB"):
        table.add_column(column, justify="right")
    for size in sizes:
        out = subprocess.run([sys.executable, __file__, "--graph", str(size)], check=True, capture_output=True, text=True)
        table.add_row(*(f"{int(float(v)):,}" if i != 3 else v for i, v in enumerate(out.stdout.strip().split(","))))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="dev")
    parser.add_argument("--log", type=Path, help="An exchange log (JSONL) instead of simulating.")
    parser.add_argument("--accounts", type=Path, help="Account records for --log.")
    parser.add_argument("--intel", type=Path, help="IP intelligence directory (the built-in lists when omitted).")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_spark"))
    parser.add_argument("--files", type=int, default=4, help="Files the log is cut into (Spark reads one per task).")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--graph-sizes", help="Comma-separated account counts: time the driver's clustering instead.")
    parser.add_argument("--graph", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    console = Console()
    if args.graph:
        _graph(args.graph)
        return
    if args.graph_sizes:
        _graphs([int(v) for v in args.graph_sizes.split(",")], console)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    log, accounts = args.log, args.accounts
    if log is None:
        traffic = args.work / "traffic"
        if not (traffic / "exchanges.jsonl").exists():
            subprocess.run([str(BIN), "simulate", "--scenario", args.scenario, "--out", str(traffic)], check=True,
                           stdout=subprocess.DEVNULL)
        log, accounts = traffic / "exchanges.jsonl", traffic / "accounts.jsonl"
    files = _split(log, args.files, args.work / "split")
    account_files = [accounts] if accounts else []

    phases = {"duckdb": Phases(), "spark": Phases()}
    totals: dict[str, float] = {}
    results: dict[str, AnalysisResult] = {}
    settings = _settings(args.work, "duckdb", args.intel)
    policy, tunables = load_policy(None), load_campaign_settings(settings.campaigns)
    intel = IpIntel.load(settings.intel_dir)
    start = time.perf_counter()
    results["duckdb"] = analyze(settings, policy, tunables, intel, files, account_files, args.work / "duckdb",
                                phases["duckdb"])
    totals["duckdb"] = time.perf_counter() - start

    start = time.perf_counter()
    session = spark_session(args.master, shuffle_partitions=2 * os.cpu_count(), driver_memory=args.driver_memory)
    session.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - start
    start = time.perf_counter()
    results["spark"] = analyze_spark(session, _settings(args.work, "spark", args.intel), policy, tunables, intel, files,
                                     account_files, args.work / "spark", progress=phases["spark"])
    totals["spark"] = time.perf_counter() - start
    session.stop()

    n = results["duckdb"].n_stored
    table = Table(title=f"analyze of {n:,} exchanges in {len(files)} files; {os.cpu_count()} cores shared with other work")
    for column in ("engine", "phase", "wall s", "exchanges/s"):
        table.add_column(column, justify="right" if column in ("wall s", "exchanges/s") else "left")
    for engine, timed in phases.items():
        for name, s in timed.seconds.items():
            table.add_row(engine, name, f"{s:,.1f}", f"{n / s:,.0f}")
        rest = totals[engine] - sum(timed.seconds.values())
        table.add_row(engine, "the rest (what no phase above reported)", f"{rest:,.1f}", "")
        table.add_row(engine, "[bold]total", f"[bold]{totals[engine]:,.1f}", f"[bold]{n / totals[engine]:,.0f}")
    table.add_row("spark", f"session start ({args.master})", f"{startup:,.1f}", "")
    console.print(table)
    console.print(f"spark / duckdb wall: {totals['spark'] / totals['duckdb']:.2f}x")
    duck, spark = _flags(results["duckdb"]), _flags(results["spark"])
    console.print(f"flagged: duckdb {len(duck[0]):,}, spark {len(spark[0]):,}, equal: {duck[0] == spark[0]}; "
                  f"campaigns: duckdb {len(duck[1])}, spark {len(spark[1])}, same members: {duck[1] == spark[1]}")


if __name__ == "__main__":
    main()
