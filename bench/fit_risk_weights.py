"""Refit the account risk weights (``accounts/data/risk_weights.yaml``) and score them on held-out traffic.

Calibration traffic comes from the scenario variants ``det-train-*`` and is
never scored; the test traffic (``dev``, ``det-test-*``) is never fitted on::

    for s in det-train-small det-train-shift det-test-wide det-test-timing; do
      .venv/bin/distillguard simulate --scenario src/distillguard/sim/scenarios/$s.yaml \\
        --corpus ../shared/data/prompts --intel ../shared/data/intel --out runs/$s/traffic
    done
    .venv/bin/python bench/fit_risk_weights.py --write \\
      --train runs/det-train-small/traffic runs/det-train-shift/traffic \\
      --test runs/dev/traffic runs/det-test-wide/traffic runs/det-test-timing/traffic

The figures are the account model's own (no campaign linking): recall over
campaign accounts with at least ``LOW_VOLUME`` exchanges, exchange-weighted
recall over all campaign accounts, FPR overall and per legitimate population,
at the flag threshold (risk >= 0.7, the policy's first flagging action); then
the same for pooled groups (legitimate teams sharing a payment instrument,
campaigns whole and in parts: what the campaign layer scores), where a
flagged legitimate team would flag all its members.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from distillguard.accounts import IpIntel, score_accounts
from distillguard.accounts.risk import TERM_SIGNS, WEIGHTS_FILE, RiskWeights
from distillguard.eval.risk_fit import (
    LOW_VOLUME,
    AccountSample,
    design,
    fit_weights,
    load_samples,
)

FLAG_RISK = 0.7
FPR_BUDGET = 0.0005
"""Half the 0.1 % budget: the bias leaves room for traffic unlike the calibration data."""
POPULATION_FPR_BUDGET = 0.005
"""Half the 1 % per-population budget."""
LOGIT_MARGIN = 0.5
"""Extra distance (in logits) between the most suspicious calibration legit account allowed and the flag threshold."""


def set_bias_for_budget(weights: RiskWeights, samples: list[AccountSample]) -> RiskWeights:
    """Move the bias so that risk >= FLAG_RISK stays within the FP budgets on ``samples``' legit accounts."""
    zs, pops = [], []
    for sample in samples:
        names, x = design(sample)
        legit = ~sample.is_attack
        zs.append(x[legit] @ np.array([weights.weights[n] for n in names]))
        pops.append(sample.population[legit])
    z, pop = np.concatenate(zs), np.concatenate(pops)
    limit = float(np.quantile(z, 1.0 - FPR_BUDGET, method="higher"))
    for group in sorted(set(pop.tolist())):
        limit = max(limit, float(np.quantile(z[pop == group], 1.0 - POPULATION_FPR_BUDGET, method="higher")))
    bias = float(np.log(FLAG_RISK / (1.0 - FLAG_RISK))) - limit - LOGIT_MARGIN
    return weights.model_copy(update={"bias": round(bias, 4)})


def report(name: str, sample: AccountSample, weights: RiskWeights) -> None:
    """Print the own-risk figures of one traffic directory."""
    risk, _ = score_accounts(sample.features, sample.context, weights=weights)
    flagged = risk >= FLAG_RISK
    attack, legit = sample.is_attack, ~sample.is_attack
    counted = attack & (sample.n_exchanges >= LOW_VOLUME)
    w = sample.n_exchanges.astype(np.float64)
    print(f"\n{name}")
    print(f"  recall (campaign accounts with >= {LOW_VOLUME} exchanges): {int((flagged & counted).sum())} / "
          f"{int(counted.sum())} = {(flagged & counted).sum() / max(counted.sum(), 1):.4f}")
    low = attack & ~counted
    print(f"  low-volume campaign accounts flagged on their own: {int((flagged & low).sum())} / {int(low.sum())}")
    print(f"  exchange-weighted recall (all campaign accounts): {w[flagged & attack].sum() / max(w[attack].sum(), 1):.4f}")
    print(f"  FPR: {int((flagged & legit).sum())} / {int(legit.sum())} = {(flagged & legit).sum() / max(legit.sum(), 1):.5f}")
    for group in sorted(set(sample.group.tolist())):
        members = sample.group == group
        if attack[members].all():
            members &= sample.n_exchanges >= LOW_VOLUME
            rate = (flagged & members).sum() / max(members.sum(), 1)
            print(f"    {group:<22} flagged {int((flagged & members).sum()):>5} / {int(members.sum()):<5} ({rate:.2%})")
        else:
            print(f"    {group:<22} FP      {int((flagged & members).sum()):>5} / {int(members.sum()):<5} "
                  f"({(flagged & members).sum() / members.sum():.2%})")


def main() -> None:
    """Fit on ``--train``, report on ``--train`` and ``--test``, and with ``--write`` ship the weights."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", type=Path, required=True, help="simulated traffic directories to fit on")
    parser.add_argument("--test", nargs="*", type=Path, default=[], help="traffic directories to score only")
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--l2", type=float, default=0.001)
    parser.add_argument("--write", action="store_true", help="write the package's risk_weights.yaml")
    args = parser.parse_args()
    overlap = {p.resolve() for p in args.train} & {p.resolve() for p in args.test}
    if overlap:
        parser.error(f"a directory is both fitted on and scored: {sorted(map(str, overlap))}")
    intel = IpIntel.load(args.intel)
    train = [sample for p in args.train for sample in load_samples(p, intel)]
    fitted = set_bias_for_budget(fit_weights(train, TERM_SIGNS, l2=args.l2), train)
    fitted = fitted.model_copy(update={"fitted_on": [str(p) for p in args.train], "note": (
        "fitted by bench/fit_risk_weights.py (class- and population-balanced logistic regression, "
        f"sign-constrained, l2={args.l2}); bias set so that risk >= {FLAG_RISK} keeps "
        f"{FPR_BUDGET:.2%} FPR overall and {POPULATION_FPR_BUDGET:.1%} per population on the calibration traffic, "
        f"with a further margin of {LOGIT_MARGIN} logit")})
    print("weights:", yaml.safe_dump(fitted.model_dump(), sort_keys=False, width=200))
    for k, path in enumerate(args.train):
        report(f"{path} (fitted on)", train[2 * k], fitted)
        report(f"{path}, pooled groups (fitted on)", train[2 * k + 1], fitted)
    for path in args.test:
        single, pooled = load_samples(path, intel)
        report(f"{path} (held out)", single, fitted)
        report(f"{path}, pooled groups (held out)", pooled, fitted)
    if args.write:
        target = Path(str(resources.files("distillguard.accounts") / "data" / WEIGHTS_FILE))
        header = "# Fitted account risk weights: regenerate with bench/fit_risk_weights.py (see its docstring).\n"
        target.write_text(header + yaml.safe_dump(fitted.model_dump(), sort_keys=False, width=200), encoding="utf-8")
        print(f"\nwrote {target}")


if __name__ == "__main__":
    main()
