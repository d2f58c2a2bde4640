"""Benchmark simulate and analyze against a bare DuckDB scan of the same file, in one run.

    python bench/bench_pipeline.py --scenario dev --corpus ../shared/data/prompts --intel ../shared/data/intel
    python bench/bench_pipeline.py --scenario large --format parquet --no-store-text --repeat 1

Prints, for each stage, wall time, exchanges/s and MB/s of log, peak RSS of the
process, and the ratio to a bare DuckDB ``read_json`` scan + GROUP BY account of
the same file (median of ``--repeat`` scans, measured in the same run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

BIN = Path(sys.executable).parent / "distillguard"


def _run(cmd: list[str]) -> tuple[float, int]:
    """Run a command; return its wall time (s) and peak RSS (bytes)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss * 1024


def _source(path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet('{path}')"
    return f"read_json('{path}', format='newline_delimited', maximum_object_size=67108864)"


def _duckdb_scan(path: Path) -> float:
    """Bare DuckDB: read the log, group by account, count and sum the request text's length."""
    con = duckdb.connect()
    start = time.perf_counter()
    con.sql(
        f"SELECT account_id, count(*), sum(length(CAST(request AS VARCHAR))) FROM {_source(path)} GROUP BY account_id"
    ).fetchall()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="dev")
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/prompts"))
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench"))
    parser.add_argument("--repeat", type=int, default=3, help="bare DuckDB scans to take the median of")
    parser.add_argument("--no-store-text", action="store_true", help="analyze without keeping text (as for large)")
    parser.add_argument("--format", default="jsonl", choices=("jsonl", "parquet"), help="log format simulate writes")
    parser.add_argument("--reuse-traffic", action="store_true",
                        help="keep WORK/traffic from an earlier run of the same scenario and time only the rest")
    args = parser.parse_args()

    traffic = args.work / "traffic"
    log = traffic / f"exchanges.{args.format}"
    simulated: tuple[float, int] | None = None
    if args.reuse_traffic and log.exists():
        for stale in (args.work / "analysis", args.work / "bench.duckdb", args.work / "bench.duckdb.wal"):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    else:
        shutil.rmtree(args.work, ignore_errors=True)
        simulated = _run([str(BIN), "simulate", "--scenario", args.scenario, "--corpus", str(args.corpus),
                          "--intel", str(args.intel), "--out", str(traffic), "--format", args.format])
    size = log.stat().st_size
    n = duckdb.sql(f"SELECT count(*) FROM {_source(log)}").fetchall()[0][0]
    scans = [_duckdb_scan(log) for _ in range(args.repeat)]
    scan_s = statistics.median(scans)
    analyze_cmd = [str(BIN), "analyze", str(log), "--accounts", str(traffic / "accounts.jsonl"),
                   "--intel", str(args.intel), "--db", str(args.work / "bench.duckdb"), "--out", str(args.work / "analysis")]
    if args.no_store_text:
        analyze_cmd.append("--no-store-text")
    analyze_s, analyze_rss = _run(analyze_cmd)

    table = Table(
        title=f"scenario {args.scenario}: {n:,} exchanges, {size / 1e6:,.0f} MB of {args.format}, {os.cpu_count()} cores")
    for col in ("stage", "seconds", "exchanges/s", "MB/s", "× DuckDB scan time", "peak RSS"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    rows = [(f"bare DuckDB scan + GROUP BY (median of {args.repeat})", scan_s, None)]
    if simulated is not None:
        rows.append(("simulate", *simulated))
    rows.append(("analyze (ingest → decisions)", analyze_s, analyze_rss))
    for name, seconds, rss in rows:
        table.add_row(name, f"{seconds:,.1f}", f"{n / seconds:,.0f}", f"{size / 1e6 / seconds:,.1f}",
                      f"{seconds / scan_s:,.1f}", f"{rss / 2**30:,.2f} GiB" if rss else "—")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
