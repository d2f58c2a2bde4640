"""How the population-wide account signals separate attack from legitimate accounts, per family.

Reads a store written by ``distillguard analyze`` over a drawn world and the
world's labels, computes :func:`distillguard.analysis.stats.population_signals`
and prints, per family, each column's median / 90th percentile / percent of
accounts at 0.5 or more, then each column's AUROC and counts at 0.5 or more
over accounts with at least five requests::

    distillguard simulate --families <all> --negatives <all> --seed 5 --out /tmp/w/traffic
    distillguard analyze /tmp/w/traffic/exchanges.jsonl --accounts /tmp/w/traffic/accounts.jsonl \\
        --db /tmp/w/s.duckdb --out /tmp/w/analysis
    .venv/bin/python bench/population_signals.py /tmp/w/s.duckdb /tmp/w/traffic/labels.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import cast

import polars as pl
from sklearn.metrics import roc_auc_score

from distillguard.accounts import IpIntel
from distillguard.analysis.stats import POPULATION_COLUMNS, population_signals
from distillguard.store import Store

MIN_REQUESTS = 5
"""Accounts with fewer requests are left out of the AUROC and counts, as the issue's recall targets leave them."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path, help="store written by distillguard analyze")
    parser.add_argument("labels", type=Path, help="labels.jsonl of the simulated world")
    parser.add_argument("--intel", type=Path, default=None, help="directory of IP lists, as analyze was given")
    args = parser.parse_args()
    with Store(args.db, read_only=True) as store:
        started = time.perf_counter()
        table = population_signals(store, IpIntel.load(args.intel))
        print(f"population_signals: {table.num_rows:,} accounts in {time.perf_counter() - started:.2f} s")
    labels = pl.read_ndjson(args.labels).select(
        "account_id", "label", pl.coalesce("family", "population").alias("family"), "n_exchanges")
    frame = cast(pl.DataFrame, pl.from_arrow(table)).join(labels, on="account_id")
    summary = [
        pl.format("{}/{}/{}", pl.col(c).median().round(2), pl.col(c).quantile(0.9, "nearest").round(2),
                  ((pl.col(c) >= 0.5).mean() * 100).round(0).cast(pl.Int64)).alias(c)
        for c in POPULATION_COLUMNS
    ]
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=250):
        print("median / p90 / % >= 0.5")
        print(frame.group_by("label", "family").agg(pl.len().alias("accounts"), *summary).sort("label", "family"))
        print(frame.group_by("label").agg(pl.len().alias("accounts"), *summary).sort("label"))
    scored = frame.filter(pl.col("n_exchanges") >= MIN_REQUESTS)
    attack = (scored.get_column("label") == "attack").to_numpy()
    for c in POPULATION_COLUMNS:
        values = scored.get_column(c).fill_null(0.0).to_numpy()
        high = values >= 0.5
        print(f"{c}: AUROC {roc_auc_score(attack, values):.3f}; >= 0.5: attack {int((high & attack).sum())}"
              f"/{int(attack.sum())}, legitimate {int((high & ~attack).sum())}/{int((~attack).sum())}; "
              f"null {frame.get_column(c).is_null().mean():.1%}")


if __name__ == "__main__":
    main()
