"""Per-exchange signals throughput on one core, beside a bare DuckDB scan of the same text.

    python bench/bench_signals.py runs/dev/traffic/exchanges.jsonl --rows 100000

Reads up to ``--rows`` exchanges with the real reader, then times (median of
``--repeat``) every registered signal over them in 20,000-row batches with BLAS
and DuckDB on one thread, and a DuckDB scan that reads the same ``system`` and
``prompt`` text and groups it by account. With ``--prompt-sets DIR`` it also
times the dataset-sweep signal (not in the default registry: it needs an index
built from a corpus directory; the index build is timed apart).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from distillguard.ingest import read_exchanges
from distillguard.signals import SIGNALS, compute_signals
from distillguard.signals.sweep import DatasetSweepSignal, PromptSetIndex


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--prompt-sets", type=Path, help="corpus directory to index for the dataset-sweep signal")
    args = parser.parse_args()
    sweep = None
    if args.prompt_sets is not None:
        start = time.perf_counter()
        sweep = DatasetSweepSignal(PromptSetIndex.from_directory(args.prompt_sets))
        print(f"prompt-set index: {len(sweep.index):,} items, {len(sweep.index.keys):,} shingles, "
              f"built in {time.perf_counter() - start:.1f} s")

    batches: list[pa.Table] = []
    n = 0
    for batch in read_exchanges(args.log, 20_000):
        batches.append(batch.table)
        n += batch.table.num_rows
        if n >= args.rows:
            break
    table = pa.concat_tables(batches).slice(0, args.rows)
    n = table.num_rows
    text_mb = sum(pc.sum(pc.utf8_length(table.column(c).fill_null(""))).as_py()
                  for c in ("system", "prompt")) / 1e6
    chunks = [table.slice(i, 20_000) for i in range(0, n, 20_000)]
    compute_signals(chunks[0].slice(0, 100))  # train the CoT model once, outside the timing

    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register("ex", table.select(["account_id", "system", "prompt"]))
    scan = "SELECT account_id, count(*), sum(length(coalesce(system, '') || prompt)) FROM ex GROUP BY account_id"
    with threadpool_limits(1):
        rows = [("bare DuckDB scan + GROUP BY of the text", _median_seconds(lambda: con.sql(scan).fetchall(), args.repeat))]
        rows.append(("all signals (compute_signals)",
                     _median_seconds(lambda: [compute_signals(c) for c in chunks], args.repeat)))
        for name, signal in SIGNALS.items():
            rows.append((f"  {name}", _median_seconds(lambda s=signal: [s(c) for c in chunks], 1)))
        if sweep is not None:
            rows.append(("dataset sweep (extra signal)", _median_seconds(lambda: [sweep(c) for c in chunks], args.repeat)))

    out = Table(title=f"{n:,} exchanges, {text_mb:,.1f} MB of system + prompt text, one thread")
    for col in ("stage", "seconds", "exchanges/s", "MB/s of text", "× DuckDB scan time"):
        out.add_column(col, justify="left" if col == "stage" else "right")
    base = rows[0][1]
    for name, seconds in rows:
        out.add_row(name, f"{seconds:.3f}", f"{n / seconds:,.0f}", f"{text_mb / seconds:,.1f}", f"{seconds / base:,.1f}")
    Console(width=140).print(out)


if __name__ == "__main__":
    main()
