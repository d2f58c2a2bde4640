"""Benchmark analyze phase by phase against a bare DuckDB scan of the same file, in one run.

    python bench/bench_pipeline.py --scenario dev --corpus ../shared/data/prompts --intel ../shared/data/intel
    python bench/bench_pipeline.py --scenario large --format parquet --no-store-text --reuse-traffic
    python bench/bench_pipeline.py --log /tmp/sample.parquet --no-store-text --work /tmp/bench
    python bench/bench_pipeline.py --scenario dev --reuse-traffic --engine spark --signal-rows 0

Simulates the scenario (or takes ``--log``), scans the log with bare DuckDB (``read_json`` /
``read_parquet`` + GROUP BY account; median of ``--repeat``), then runs the library's ``analyze``
in a fresh process and prints each phase it reports (``AnalysisResult.timings``): ingest (with the CPU
seconds its workers spent parsing and computing signals, and the wall seconds of the store writes),
account statistics, each step of the assessment, outputs and saving the run; each with wall and CPU
seconds (the process's, every thread and the ingest workers; the figure to compare on a shared machine),
exchanges/s, the ratio to the DuckDB scan, and the peak RSS of the analyze process and of its largest
ingest worker. Then the CPU of each signal
alone, per exchange, on the log's first ``--signal-rows`` exchanges in ``--batch-size`` batches (median of
``--repeat``; a signal that shares work with others, as the two template signals do, is charged it whole).
``--engine spark`` runs ``analyze_spark`` on every local core instead and prints its phases (the Spark actions
under them); their CPU seconds are the driver process's only, so the Spark JVM's and its Python workers' CPU,
read from ``/proc`` at the end, is a row of its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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


def _signal_cpu(log: Path, rows: int, batch_size: int, repeat: int) -> dict[str, float]:
    """CPU µs per exchange of each registered signal alone and of all of them, over the first ``rows`` of ``log``."""
    from distillguard.ingest import read_exchanges
    from distillguard.signals import SIGNALS, compute_signals

    tables, n = [], 0
    for batch in read_exchanges(log, batch_size):
        tables.append(batch.table)
        n += batch.table.num_rows
        if n >= rows:
            break
    compute_signals(tables[0].slice(0, 1000))  # builds the CoT model
    chosen: dict[str, dict[str, Any] | None] = {name: {name: sig} for name, sig in SIGNALS.items()}
    chosen["all signals"] = None
    out: dict[str, float] = {}
    for name, signals in chosen.items():
        times = []
        for _ in range(repeat):
            start = time.process_time()
            for table in tables:
                compute_signals(table, signals)
            times.append(time.process_time() - start)
        out[name] = 1e6 * statistics.median(times) / max(n, 1)
    return out


def _analyze(options: dict[str, Any], conn: Connection) -> None:
    """In a fresh process: analyze as the CLI does; send its phases and figures back."""
    from distillguard.accounts import IpIntel
    from distillguard.analysis import analyze
    from distillguard.campaigns.settings import load_campaign_settings
    from distillguard.config import load_settings, with_overrides
    from distillguard.policy import load_policy

    settings = with_overrides(load_settings(None), "bench", db=options["db"], intel_dir=options["intel"],
                              analyze={"store_text": options["store_text"]})
    policy, tunables = load_policy(None), load_campaign_settings(settings.campaigns)
    intel = IpIntel.load(settings.intel_dir)
    if options["engine"] == "spark":
        from distillguard.analysis.spark import analyze_spark, spark_session

        result = analyze_spark(spark_session(), settings, policy, tunables, intel, options["logs"], options["accounts"],
                               options["out"])
    else:
        result = analyze(settings, policy, tunables, intel, options["logs"], options["accounts"], options["out"])
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    conn.send({
        "phases": result.timings.rows(), "counts": result.counts.phases, "workers": result.counts.workers,
        "lines": result.counts.lines, "stored": result.n_stored,
        "rss": own.ru_maxrss * 1024, "worker_rss": workers.ru_maxrss * 1024,
        "cpu": own.ru_utime + own.ru_stime, "worker_cpu": workers.ru_utime + workers.ru_stime,
        "descendant_cpu": _descendant_cpu() if options["engine"] == "spark" else 0.0,
    })


def _descendant_cpu() -> float:
    """CPU seconds of this process' live descendants (a local Spark JVM and its Python workers) and of the ones
    they reaped, from ``/proc``."""
    parents, ticks = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        ticks[pid] = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    tree, grown = {os.getpid()}, True
    while grown:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grown = bool(found)
    return sum(ticks[pid] for pid in tree - {os.getpid()}) / os.sysconf("SC_CLK_TCK")


def _analyze_in_child(options: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    ctx = get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    start = time.perf_counter()
    proc = ctx.Process(target=_analyze, args=(options, send))
    proc.start()
    figures = receive.recv()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"analyze failed (exit {proc.exitcode})")
    return time.perf_counter() - start, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="dev")
    parser.add_argument("--log", type=Path, help="benchmark this log instead of simulating a scenario")
    parser.add_argument("--accounts", type=Path, help="account records for --log")
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/prompts"))
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench"))
    parser.add_argument("--repeat", type=int, default=3, help="bare DuckDB scans to take the median of")
    parser.add_argument("--no-store-text", action="store_true", help="analyze without keeping text (as for large)")
    parser.add_argument("--format", default="jsonl", choices=("jsonl", "parquet"), help="log format simulate writes")
    parser.add_argument("--signal-rows", type=int, default=100_000, help="exchanges to time each signal on (0: none)")
    parser.add_argument("--batch-size", type=int, default=20_000, help="rows per batch when timing the signals")
    parser.add_argument("--engine", default="duckdb", choices=("duckdb", "spark"), help="analyze's engine")
    parser.add_argument("--reuse-traffic", action="store_true",
                        help="keep WORK/traffic from an earlier run of the same scenario and time only the rest")
    args = parser.parse_args()

    traffic = args.work / "traffic"
    simulated: tuple[float, int] | None = None
    if args.log is not None:
        log, accounts = args.log, [args.accounts] if args.accounts else []
        shutil.rmtree(args.work, ignore_errors=True)
        args.work.mkdir(parents=True)
    else:
        log, accounts = traffic / f"exchanges.{args.format}", [traffic / "accounts.jsonl"]
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
    wall, fig = _analyze_in_child({
        "db": args.work / "bench.duckdb", "intel": args.intel, "store_text": not args.no_store_text,
        "logs": [log], "accounts": accounts, "out": args.work / "analysis", "engine": args.engine,
    })

    name = args.log.name if args.log is not None else f"scenario {args.scenario}"
    engine = "Spark, every local core" if args.engine == "spark" else f"{fig['workers']} ingest workers"
    table = Table(title=f"{name}: {n:,} exchanges, {size / 1e6:,.0f} MB, {os.cpu_count()} cores, "
                        f"{engine}; load average {os.getloadavg()[0]:.1f} at the end")
    for col in ("stage", "seconds", "CPU s", "exchanges/s", "MB/s", "× DuckDB scan time", "peak RSS"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    cp = fig["counts"]
    rss = f"{fig['rss'] / 2**30:,.2f} GiB (+ worker {fig['worker_rss'] / 2**30:,.2f})"
    rows: list[tuple[str, float, float | None, str]] = [
        (f"bare DuckDB scan + GROUP BY (median of {args.repeat})", scan_s, None, "")]
    if simulated is not None:
        rows.append(("simulate", simulated[0], None, f"{simulated[1] / 2**30:,.2f} GiB"))
    for i, (label, seconds, cpu, peak) in enumerate(fig["phases"]):
        rows.append((label, seconds, cpu, rss if i == 0 else "" if peak is None else f"{peak / 2**30:,.2f} GiB"))
        if label.strip() == "ingest" and args.engine == "duckdb":
            rows += [
                ("    parse (CPU s, summed over workers)", cp["parse"], None, ""),
                ("    signals (CPU s, summed over workers)", cp["signals"], None, ""),
                ("    store write (wall s, main process)", cp["store"], None, ""),
            ]
    rows += [
        ("analyze process (with start-up)", wall, None, ""),
        ("  CPU s of the analyze process (all threads)", fig["cpu"], None, ""),
    ]
    if args.engine == "spark":
        rows.append(("  CPU s of the Spark JVM and its Python workers", fig["descendant_cpu"], None, ""))
    else:
        rows.append(("  CPU s of its ingest workers", fig["worker_cpu"], None, ""))
    for stage, seconds, cpu, mem in rows:
        table.add_row(stage, f"{seconds:,.1f}", "—" if cpu is None else f"{cpu:,.1f}", f"{n / seconds:,.0f}" if seconds else "—",
                      f"{size / 1e6 / seconds:,.1f}" if seconds else "—", f"{seconds / scan_s:,.1f}", mem or "—")
    Console(width=160).print(table)
    if args.signal_rows > 0:
        per_signal = Table(title=f"CPU of each signal alone: first {args.signal_rows:,} exchanges, "
                                 f"batches of {args.batch_size:,}, median of {args.repeat}")
        per_signal.add_column("signal")
        per_signal.add_column("CPU µs per exchange", justify="right")
        for signal, micros in _signal_cpu(log, args.signal_rows, args.batch_size, args.repeat).items():
            per_signal.add_row(signal, f"{micros:,.2f}")
        Console(width=160).print(per_signal)


if __name__ == "__main__":
    main()
