"""Measure campaign lifecycles and intrusion sets against a simulated run's ground truth.

    python bench/lifecycle_eval.py runs/lc-dev            # a directory holding traffic/ and distillguard.duckdb

Pivots, over the true members of every campaign that pivots to a new model
(``truth.json``: ``pivot_ts``) and over every detected campaign: the delay of
the pivot found to each true pivot of the campaigns inside, and any other
pivot found (a false pivot, unless the traffic really moved).
Then the intrusion sets against the true operators (pairwise precision and
recall over campaigns), twice: over the store's detected campaigns (each
labelled with the true campaign of most of its members), and over the true
campaigns themselves (the grouping alone, whatever the clustering did).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import cast

import orjson
import polars as pl
from rich.console import Console
from rich.table import Table

from distillguard.analysis.indicators import load_indicators
from distillguard.analysis.inspect import campaign_lifecycle, find_intrusion_sets
from distillguard.campaigns.intrusion import IntrusionSet, pair_agreement
from distillguard.campaigns.lifecycle import Phase
from distillguard.store import Store
from distillguard.store.results import campaign_members


def _pivots(store: Store, members: list[str]) -> list[Phase]:
    return [p for p in campaign_lifecycle(store, members).phases if p.kind == "pivot"]


def _delay(pivots: list[Phase], model: str, at: datetime) -> str:
    starts = [p.start for p in pivots if p.evidence.startswith(f"traffic moved to {model} ")]
    if not starts:
        return "not found"
    return f"{min(((s - at).total_seconds() / 3600 for s in starts), key=abs):+.1f} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="directory with traffic/{truth.json,labels.jsonl} and distillguard.duckdb")
    args = parser.parse_args(argv)
    truth = orjson.loads((args.run / "traffic" / "truth.json").read_bytes())
    labels = [json.loads(line) for line in (args.run / "traffic" / "labels.jsonl").read_text().splitlines()]
    campaign_of = {r["account_id"]: r["campaign"] for r in labels}
    operator_of = {c["id"]: c["operator"] for c in truth["campaigns"]}
    pivoting = {c["id"]: c for c in truth["campaigns"] if c["pivot_ts"]}
    out = Console(width=140)
    with Store(args.run / "distillguard.duckdb") as store:
        members = cast(pl.DataFrame, pl.from_arrow(campaign_members(store)))
        detected: dict[str, list[str]] = {}
        for cid, account in members.select("campaign_id", "account_id").unique().iter_rows():
            detected.setdefault(cid, []).append(account)
        majority = {cid: Counter(campaign_of.get(a) for a in accts).most_common(1)[0][0] for cid, accts in detected.items()}
        table = Table(title=f"pivot to a new model: found vs true ({args.run})")
        for name in ("over", "accounts", "true campaigns in it", "true pivot (UTC)", "delay", "other pivots found"):
            table.add_column(name)
        groups = {f"true {c}": [a for a, t in campaign_of.items() if t == c] for c in pivoting}
        groups.update({cid: detected[cid] for cid in sorted(detected)})
        for name, accounts in groups.items():
            pivots = _pivots(store, accounts)
            inside = Counter(campaign_of.get(a) for a in accounts)
            truths = [pivoting[c] for c in inside if c in pivoting]
            matched = [(t, _delay(pivots, t["pivot_model"], datetime.fromisoformat(t["pivot_ts"]))) for t in truths]
            others = [p for p in pivots if not any(p.evidence.startswith(f"traffic moved to {t['pivot_model']} ")
                                                   for t in truths)]
            table.add_row(name, f"{len(accounts):,}", ", ".join(f"{c or 'legit'} {n}" for c, n in inside.most_common(3)),
                          "; ".join(f"{t['pivot_ts'][:16]}" for t, _ in matched) or "-",
                          "; ".join(d for _, d in matched) or "-",
                          ", ".join(p.evidence.split(" of the")[0].removeprefix("traffic moved to ") for p in others) or "-")
        out.print(table)
        indicators = load_indicators(store)
        true_members = pl.DataFrame(
            [("truth", c, a) for a, c in campaign_of.items() if c is not None],
            schema=["run_id", "campaign_id", "account_id"], orient="row")
        by_detected = find_intrusion_sets(store, indicators, members)
        by_truth = find_intrusion_sets(store, indicators, true_members)
    truth_ops = {cid: operator_of.get(t or "", "legit") for cid, t in majority.items()}
    _report_sets(out, "detected campaigns", by_detected, truth_ops)
    _report_sets(out, "true campaigns", by_truth, operator_of)
    return 0


def _report_sets(out: Console, over: str, sets: list[IntrusionSet], operators: dict[str, str]) -> None:
    agreement = pair_agreement(sets, operators)
    out.print(f"intrusion sets over {over}: {len(sets)} sets over {int(agreement['campaigns'])} campaigns of "
              f"{len(set(operators.values()))} true operators; pairwise precision {agreement['pair_precision']:.3f}, "
              f"recall {agreement['pair_recall']:.3f}")
    for s in sets:
        ops = Counter(operators[c] for c in s.campaigns)
        links = "; ".join(f"{link.a}–{link.b}: {link.families}" for link in s.links[:2])
        out.print(f"  {s.set_id}: {len(s.campaigns)} campaigns, true operators {dict(ops)}"
                  + (f"  [{links}]" if links else ""), markup=False)


if __name__ == "__main__":
    sys.exit(main())
