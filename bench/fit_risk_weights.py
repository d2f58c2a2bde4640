"""Refit the account and campaign risk weights (``accounts/data/*_weights.yaml``) and score them on held-out traffic.

Calibration traffic comes from the scenario variants ``det-train-*`` and a
drawn world of every attack and hard-negative family (seed 11), and is never
scored; the test traffic (``dev``, ``det-test-*``) is never fitted on. How
the fitting procedure generalises to families it never saw is measured apart,
fold by fold, by ``bench/generalize.py``::

    for s in det-train-small det-train-shift det-train-evals det-train-day det-test-wide det-test-timing; do
      .venv/bin/distillguard simulate --scenario src/distillguard/sim/scenarios/$s.yaml \\
        --corpus ../shared/data/prompts --intel ../shared/data/intel --out runs/$s/traffic
    done
    attacks=reasoning-harvest,agentic-harvest,coding-pivot,reseller-hydra,aged-accounts,non-english
    attacks=$attacks,rubric-grading,trace-reconstruction,thinking-budget,consumer-mimic
    negatives=consumer-chat,vpn-users,students,agentic-devs,enterprise-batch,benchmark-evals,tutoring
    negatives=$negatives,research-evals,translation,agent-frameworks,phone-app
    .venv/bin/distillguard simulate --seed 11 --families $attacks --negatives $negatives \\
      --corpus ../shared/data/prompts --intel ../shared/data/intel --out runs/families-11/traffic
    .venv/bin/python bench/fit_risk_weights.py --write \\
      --train runs/det-train-small/traffic runs/det-train-shift/traffic runs/det-train-evals/traffic \\
        runs/det-train-day/traffic runs/families-11/traffic \\
      --test runs/dev/traffic runs/det-test-wide/traffic runs/det-test-timing/traffic

The account model is fitted on single accounts and pooled groups over their
whole traffic; the campaign model on pooled groups over their whole traffic
and at every snapshot (hours into each campaign, see
:mod:`distillguard.eval.risk_fit`). Both biases are set on every legitimate
row, single or pooled, whole traffic or snapshot; the counted-evidence prior of
each on its own legitimate rows over their whole traffic, those the policy's
standing reviews or asks to verify instead of degrading left out.

The figures are each model's own (no linking): for single accounts under the
account model, recall over campaign accounts with at least ``LOW_VOLUME``
exchanges, exchange-weighted recall over all campaign accounts, FPR overall
and per legitimate population, at the flag threshold (risk >= 0.7, the
policy's first flagging action); then the same for pooled groups under the
higher of both models, as the campaign layer scores them (legitimate teams
sharing a payment instrument, campaigns whole and in parts), where a flagged
legitimate team would flag all its members; each followed by the snapshots: campaigns flagged by each horizon,
legitimate rows flagged at any.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from distillguard.accounts import IpIntel, score_accounts
from distillguard.accounts.risk import WEIGHTS_FILES, RiskWeights
from distillguard.eval.risk_fit import (
    EVIDENCE_FLOOR_NATS,
    FPR_BUDGET,
    LOGIT_MARGIN,
    LOW_VOLUME,
    POPULATION_FPR_BUDGET,
    SNAPSHOT_HOURS,
    AccountSample,
    fit_risk_models,
    load_samples,
)
from distillguard.policy import load_policy

POLICY = load_policy()
FLAG_RISK = POLICY.flag_threshold
"""The risk at which the shipped policy flags an account."""


def report(name: str, sample: AccountSample, *weights: RiskWeights) -> None:
    """Print the own-risk figures of one traffic directory (the higher risk of ``weights``): whole traffic, snapshots."""
    risk = np.max([score_accounts(sample.features, sample.context, weights=w)[0] for w in weights], axis=0)
    flagged = risk >= FLAG_RISK
    full = sample.snapshot == ""
    attack, legit = sample.is_attack & full, ~sample.is_attack & full
    counted = attack & (sample.n_exchanges >= LOW_VOLUME)
    w = sample.n_exchanges.astype(np.float64)
    print(f"\n{name}")
    print(f"  recall (campaign accounts with >= {LOW_VOLUME} exchanges): {int((flagged & counted).sum())} / "
          f"{int(counted.sum())} = {(flagged & counted).sum() / max(counted.sum(), 1):.4f}")
    low = attack & ~counted
    print(f"  low-volume campaign accounts flagged on their own: {int((flagged & low).sum())} / {int(low.sum())}")
    print(f"  exchange-weighted recall (all campaign accounts): {w[flagged & attack].sum() / max(w[attack].sum(), 1):.4f}")
    print(f"  FPR: {int((flagged & legit).sum())} / {int(legit.sum())} = {(flagged & legit).sum() / max(legit.sum(), 1):.5f}")
    for group in sorted(set(sample.group[full].tolist())):
        members = full & (sample.group == group)
        if sample.is_attack[members].all():
            members &= sample.n_exchanges >= LOW_VOLUME
            rate = (flagged & members).sum() / max(members.sum(), 1)
            print(f"    {group:<22} flagged {int((flagged & members).sum()):>5} / {int(members.sum()):<5} ({rate:.2%})")
        else:
            print(f"    {group:<22} FP      {int((flagged & members).sum()):>5} / {int(members.sum()):<5} "
                  f"({(flagged & members).sum() / members.sum():.2%})")
    report_snapshots(sample, flagged)


def report_snapshots(sample: AccountSample, flagged: np.ndarray) -> None:
    """Per snapshot horizon: the campaigns flagged by then (any of their rows) and the legitimate rows flagged."""
    early = sample.snapshot != ""
    if not early.any():
        return
    legit = early & ~sample.is_attack
    print(f"  snapshots: legitimate rows flagged {int((flagged & legit).sum())} / {int(legit.sum())}")
    for hours in SNAPSHOT_HOURS:
        found, total = [], 0
        for snapshot in sorted({s for s in sample.snapshot[early].tolist() if s.endswith(f"+{hours:g}h")}):
            campaign = snapshot.rsplit("+", 1)[0]
            rows = (sample.snapshot == snapshot) & sample.is_attack & np.array(
                [g.split("@")[0].removeprefix("pooled ") == campaign for g in sample.group.tolist()])
            total += 1
            if (flagged & rows).any():
                found.append(campaign)
        print(f"    +{hours:g}h: campaigns flagged {len(found)} / {total} {found}")


def main() -> None:
    """Fit on ``--train``, report on ``--train`` and ``--test``, and with ``--write`` ship the weights."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", type=Path, required=True, help="simulated traffic directories to fit on")
    parser.add_argument("--test", nargs="*", type=Path, default=[], help="traffic directories to score only")
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--l2", type=float, default=0.001)
    parser.add_argument("--write", action="store_true", help="write the package's weight files")
    args = parser.parse_args()
    overlap = {p.resolve() for p in args.train} & {p.resolve() for p in args.test}
    if overlap:
        parser.error(f"a directory is both fitted on and scored: {sorted(map(str, overlap))}")
    intel = IpIntel.load(args.intel)
    train = [sample for p in args.train for sample in load_samples(p, intel)]
    models = fit_risk_models(train, POLICY, args.l2)
    for model, fitted in models.items():
        rows = ("pooled groups, whole traffic and snapshots" if model == "campaign"
                else "accounts and pooled groups, whole traffic")
        models[model] = fitted.model_copy(update={"fitted_on": [str(p) for p in args.train], "note": (
            f"{model} model fitted by bench/fit_risk_weights.py (class- and population-balanced logistic regression, "
            f"sign-constrained, l2={args.l2}, on {rows}); "
            f"bias set so that risk >= {FLAG_RISK} keeps {FPR_BUDGET:.2%} FPR overall and {POPULATION_FPR_BUDGET:.1%} "
            f"per population on every calibration row, with a further margin of {LOGIT_MARGIN} logit; counted-evidence "
            f"prior on the same budgets over the model's own rows, those the policy's standing reviews left out, at least "
            f"{EVIDENCE_FLOOR_NATS:g} nats")})
        print(f"{model} weights:", yaml.safe_dump(models[model].model_dump(), sort_keys=False, width=200))
    for k, path in enumerate(args.train):
        report(f"{path} (fitted on)", train[2 * k], models["account"])
        report(f"{path}, pooled groups (fitted on)", train[2 * k + 1], models["campaign"], models["account"])
    for path in args.test:
        single, pooled = load_samples(path, intel)
        report(f"{path} (held out)", single, models["account"])
        report(f"{path}, pooled groups (held out)", pooled, models["campaign"], models["account"])
    if args.write:
        for model, fitted in models.items():
            target = Path(str(resources.files("distillguard.accounts") / "data" / WEIGHTS_FILES[model]))
            header = f"# Fitted {model} risk weights: regenerate with bench/fit_risk_weights.py (see its docstring).\n"
            target.write_text(header + yaml.safe_dump(fitted.model_dump(), sort_keys=False, width=200), encoding="utf-8")
            print(f"\nwrote {target}")

if __name__ == "__main__":
    main()
