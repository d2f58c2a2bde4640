"""Fit the campaign tunable ``full_tie`` on a labelled calibration world, as ``bench/generalize.py`` does per fold.

The world is analysed with the shipped (or given) risk weights into ``--work``,
then every candidate of :data:`~distillguard.eval.tie_fit.TIE_GRID` is assessed;
the loosest whose false positives stay within the budgets is printed. The
shipped value (``cluster.full_tie`` in ``campaigns/default.yaml``) was fitted on
the calibration world of every family (``runs/families-11``, see
``bench/fit_risk_weights.py``)::

    .venv/bin/python bench/fit_full_tie.py --traffic runs/families-11/traffic
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from distillguard.accounts import IpIntel
from distillguard.analysis.run import analyze, risk_models
from distillguard.analysis.stats import build_stats
from distillguard.campaigns import load_campaign_settings
from distillguard.config import load_settings, with_overrides
from distillguard.eval.tie_fit import fit_full_tie
from distillguard.policy import load_policy
from distillguard.store import Store


def main() -> None:
    """Analyse ``--traffic``, fit ``full_tie`` on it and print each candidate's flags."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traffic", type=Path, required=True, help="simulated traffic directory (with labels.jsonl)")
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--risk-weights", type=Path, default=None, help="account weights (default: shipped)")
    parser.add_argument("--campaign-weights", type=Path, default=None, help="campaign weights (default: shipped)")
    parser.add_argument("--work", type=Path, default=Path("runs/fit-full-tie"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    settings = with_overrides(load_settings(None, environ={}), "bench/fit_full_tie.py", db=args.work / "store.duckdb",
                              intel_dir=args.intel, risk_weights=args.risk_weights,
                              campaign_weights=args.campaign_weights)
    intel, policy, tunables = IpIntel.load(args.intel), load_policy(), load_campaign_settings()
    analyze(settings, policy, tunables, intel, [args.traffic / "exchanges.jsonl"], [args.traffic / "accounts.jsonl"],
            args.work / "analysis")
    labels = [json.loads(line) for line in (args.traffic / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    population = {r["account_id"]: str(r.get("family") or r.get("population")) for r in labels if r["label"] != "attack"}
    with Store(settings.db).open() as store:
        fitted = fit_full_tie(store, build_stats(store, intel, settings.analyze.batch_size), policy, tunables,
                              risk_models(settings), population)
    table = Table(title=f"full_tie on {args.traffic} ({len(population):,} legitimate accounts)")
    for column in ("full_tie", "attack accounts flagged", "legitimate accounts flagged", "fitted"):
        table.add_column(column, justify="right")
    for tie in sorted(fitted.legit_flagged):
        table.add_row(f"{tie:g}", f"{fitted.attack_flagged[tie]:,}", f"{fitted.legit_flagged[tie]:,}",
                      "←" if tie == fitted.full_tie else "")
    Console().print(table)


if __name__ == "__main__":
    main()
