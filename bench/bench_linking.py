"""Benchmark account linking and clustering on an analysed store, beside a bare DuckDB scan.

    python bench/bench_linking.py --db runs/bench-large/bench.duckdb --repeat 3

The store is one ``distillguard analyze`` (or ``bench_pipeline.py``) left
behind, e.g. the ``large`` scenario: 24K attacker and ~175K legitimate
accounts. Prints per stage the median wall time over ``--repeat`` runs and its
ratio to a bare DuckDB scan + GROUP BY (account, address) of the same store,
measured in the same run, and the process's peak RSS. The indicators stage includes
grouping near-identical templates, also timed on its own.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.table import Table

from distillguard.accounts import IpIntel
from distillguard.analysis import account_context, build_stats, load_indicators
from distillguard.analysis.assess import linked_accounts
from distillguard.analysis.indicators import build_template_groups
from distillguard.analysis.stats import account_features
from distillguard.campaigns import find_campaigns, load_campaign_settings
from distillguard.policy import load_policy
from distillguard.store import Store

T = TypeVar("T")


def _timed(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    """Median wall time of ``runs`` calls of ``work``, and its last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="An analysed store.")
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    with Store(args.db) as store:
        n_exchanges = store.query("SELECT count(*) AS n FROM exchanges").column("n")[0].as_py()
        scan, _ = _timed(args.repeat, lambda: store.query(
            "SELECT account_id, ip, count(*) FROM exchanges GROUP BY ALL"))
        console.print(f"{args.db}: {n_exchanges:,} exchanges; bare scan {scan:.1f} s")
        stats_s, stats = _timed(1, lambda: build_stats(store, IpIntel.load(args.intel), 100_000))
        templates_s, groups = _timed(args.repeat, lambda: build_template_groups(store))
        load_s, indicators = _timed(args.repeat, lambda: load_indicators(store))
        features = account_features(store, stats)
        context = account_context(store, features)
    flag_risk = load_policy().flag_threshold
    link = load_campaign_settings().link
    link_s, (indicators, edges) = _timed(args.repeat, lambda: linked_accounts(indicators, features, context, link))
    cluster_s, result = _timed(args.repeat, lambda: find_campaigns(edges, stats, context, None, indicators,
                                                                   min_risk=flag_risk))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    accounts = len(indicators.accounts)
    table = Table(title=f"Linking and clustering: {accounts:,} accounts, median of {args.repeat}")
    for column in ("stage", "seconds", "× bare scan", "output"):
        table.add_column(column, justify="left" if column in ("stage", "output") else "right")
    table.add_row("bare DuckDB GROUP BY account, ip", f"{scan:.1f}", "1.0", "")
    table.add_row("account fingerprints (build_stats, once)", f"{stats_s:.1f}", f"{stats_s / scan:.1f}", "")
    table.add_row("indicators (SQL)", f"{load_s:.1f}", f"{load_s / scan:.1f}", f"{indicators.height:,} rows")
    table.add_row("  of which template groups", f"{templates_s:.1f}", f"{templates_s / scan:.1f}", f"{groups:,} groups")
    table.add_row("linking", f"{link_s:.1f}", f"{link_s / scan:.1f}", f"{edges.height:,} edges")
    table.add_row("clustering + campaign scoring", f"{cluster_s:.1f}", f"{cluster_s / scan:.1f}",
                  f"{len(result.campaigns):,} campaigns, {len(result.campaign_of):,} accounts")
    table.add_row("linking + clustering", f"{link_s + cluster_s:.1f}", f"{(link_s + cluster_s) / scan:.1f}", "goal < 60 s")
    table.add_row("peak RSS", f"{peak:.2f} GB", "", "")
    console.print(table)


if __name__ == "__main__":
    main()
