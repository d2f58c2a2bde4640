"""Leave-family-out evaluation: every fitted part is fitted on some families and scored on families it never saw.

Each fold holds out some attack families and some hard-negative families, plus
the ``--always-held`` families, which are held out of every fold and so never
fitted on. A training world (the other families) and a test world (the held-out
families) are simulated with different seeds, both with ordinary users (the
``consumer-chat`` family, :data:`BACKGROUND`) beside the families. On the training world only, the
account and campaign risk weights are fitted (:mod:`distillguard.eval.risk_fit`)
and their biases set to the false-positive budget at the flag threshold, as
``bench/fit_risk_weights.py`` does; the training world is then analysed with them and the campaign
tunable ``full_tie`` (how strongly a member must be linked to share its campaign's risk) fitted on it
(:mod:`distillguard.eval.tie_fit`). The test world is then analysed with those
weights (the ``risk_weights`` / ``campaign_weights`` settings) and tunables, and scored per
held-out family with the evaluation code::

    .venv/bin/python bench/generalize.py [--folds 3] [--seed 0] [--scale 2] [--replay]

Attack families: account recall over accounts with at least five requests,
exchange-weighted recall, campaign ARI within the family; with ``--replay``
(hourly decisions, slower), the share of each campaign's exchanges sent before
its first flag (the family's worst campaign). Hard-negative families: FPR, and how many of
the flagged accounts are degraded (the rest are asked to verify: the policy's review of established accounts).
Each fold: FPR over every legitimate account of the test world (ordinary users
included) and campaign ARI over its flagged attack accounts. Only held-out figures are shown; the
worst held-out family per metric is printed beside the targets of issue 13,
and all figures are written as JSON. The stores' sketch key is ``DISTILLGUARD_SKETCH_KEY``, set to one
per seed unless given, so that a run's figures can be reproduced (and two versions of the code compared
account by account). ``--reuse`` analyses the worlds a ``--keep`` run of the same ``--seed`` and folds left
in ``--work`` again with this code, each fold with its own fitted weights and ``full_tie`` (no simulation, no
fit: seed 2's three folds in 45 s in batch), to compare a change to the analysis on the same worlds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from distillguard.accounts import IpIntel
from distillguard.accounts.risk import WEIGHTS_FILES, load_risk_models
from distillguard.analysis.run import Advance, analyze, replay_logs
from distillguard.analysis.stats import SKETCH_KEY_ENV, build_stats
from distillguard.campaigns import CampaignTunables, load_campaign_settings
from distillguard.config import load_settings, with_overrides
from distillguard.core.decision import Action
from distillguard.core.errors import ConfigError
from distillguard.core.jsonl import iter_jsonl
from distillguard.eval import (
    DetectorOutput,
    EvalInputError,
    ExchangeLog,
    Labels,
    read_exchange_log,
    read_labels,
    read_predictions,
    score_detector,
)
from distillguard.eval.risk_fit import fit_risk_models, load_samples
from distillguard.eval.tie_fit import fit_full_tie, with_full_tie
from distillguard.policy import Policy, load_policy
from distillguard.sim import simulate
from distillguard.sim.families import ATTACK_FAMILIES, NEGATIVE_FAMILIES, family_scenario
from distillguard.store import Store

MIN_REQUESTS = 5
"""Attack accounts with fewer requests are left out of the account recall (issue 13)."""
TARGETS: dict[str, tuple[str, float]] = {
    "recall": (">=", 0.95),
    "exchange_weighted_recall": (">=", 0.99),
    "ari": (">=", 0.9),
    "first_flag": ("<", 0.01),
    "family_fpr": ("<=", 0.01),
    "overall_fpr": ("<=", 0.001),
}
"""Each metric's target: comparison and value."""
REPLAY_EVERY = timedelta(hours=1)

BACKGROUND = "consumer-chat"
"""The ordinary users of every world, trained on and tested on: not a held-out family, counted in the overall FPR."""
ALWAYS_HELD = ("reseller-hydra", "students")
"""Held out of every fold by default: the issue's hardest attack (a reseller network of small accounts) and the
negative family closest to its tutoring business."""


# ---------------------------------------------------------------- folds


@dataclass(frozen=True)
class Fold:
    """One split of the families: those fitted on and those held out (the always-held ones included)."""

    index: int
    train_attacks: tuple[str, ...]
    train_negatives: tuple[str, ...]
    held_attacks: tuple[str, ...]
    held_negatives: tuple[str, ...]


def make_folds(attacks: Sequence[str], negatives: Sequence[str], always_held: Sequence[str], n_folds: int,
               seed: int) -> list[Fold]:
    """``n_folds`` folds: the families not always held, shuffled by ``seed``, dealt round-robin into the folds.

    Fold ``k`` holds out its share of attack and negative families plus every
    always-held family, and trains on the rest. Raises ConfigError when a name
    is unknown, when a fold would hold out no attack or no negative family, or
    when one would have none of either kind to train on.
    """
    unknown = sorted(set(always_held) - set(attacks) - set(negatives))
    if unknown:
        raise ConfigError(f"--always-held: unknown families {unknown} (known: {sorted([*attacks, *negatives])})")
    if n_folds < 1:
        raise ConfigError("--folds: at least 1")
    rng = np.random.default_rng(seed)
    rotating_attacks = [attacks[i] for i in rng.permutation(len(attacks)) if attacks[i] not in always_held]
    rotating_negatives = [negatives[i] for i in rng.permutation(len(negatives)) if negatives[i] not in always_held]
    folds = []
    for k in range(n_folds):
        held = {*always_held, *rotating_attacks[k::n_folds], *rotating_negatives[k::n_folds]}
        fold = Fold(
            k,
            tuple(f for f in attacks if f not in held), tuple(f for f in negatives if f not in held),
            tuple(f for f in attacks if f in held), tuple(f for f in negatives if f in held),
        )
        for side, kind, families in (("holds out", "attack", fold.held_attacks),
                                     ("holds out", "negative", fold.held_negatives),
                                     ("trains on", "attack", fold.train_attacks),
                                     ("trains on", "negative", fold.train_negatives)):
            if not families:
                raise ConfigError(f"fold {k} {side} no {kind} family: {n_folds} folds over "
                                  f"{len(attacks)} attack and {len(negatives)} negative families "
                                  f"({len(always_held)} always held)")
        folds.append(fold)
    return folds


def read_families(path: Path, labels: Labels) -> np.ndarray:
    """Each labelled account's ``family`` (from ``labels.jsonl``, None where it names none), aligned with ``labels``."""
    out = np.full(len(labels), None, dtype=object)
    for _, record in iter_jsonl(path, EvalInputError):
        row = labels.index.get(record.get("account_id"))
        if row is not None:
            out[row] = record.get("family")
    return out


def read_degraded(path: Path, labels: Labels) -> np.ndarray:
    """Per labelled account, whether its decision (``accounts.jsonl``) degrades its service (not a demand to verify)."""
    out = np.zeros(len(labels), dtype=bool)
    for _, record in iter_jsonl(path, EvalInputError):
        row = labels.index.get(record.get("account_id"))
        if row is not None:
            out[row] = Action(record.get("action", "allow")).degrades
    return out


# ---------------------------------------------------------------- one fold


@dataclass(frozen=True)
class FamilyFigures:
    """A held-out family's figures in one fold (attack metrics None for a negative family and the reverse)."""

    family: str
    kind: str
    fold: int
    always_held: bool
    accounts: int
    counted: int | None = None
    """Attack accounts with at least :data:`MIN_REQUESTS` requests."""
    recall: float | None = None
    exchange_weighted_recall: float | None = None
    ari: float | None = None
    first_flag: float | None = None
    """Largest share of a campaign's exchanges sent before its first flag (1.0: a campaign never flagged)."""
    first_flag_floor: float | None = None
    """For that campaign, the share sent before the end of the first replay interval it is seen in: the
    earliest a decision taken every :data:`REPLAY_EVERY` can flag it."""
    first_flag_hours: float | None = None
    """For that campaign, hours from its first exchange to its first flag (None: never flagged)."""
    flagged: int | None = None
    """Legitimate accounts flagged (negative families)."""
    degraded: int | None = None
    """Of those, accounts whose service is degraded (the rest are asked to verify)."""
    family_fpr: float | None = None


@dataclass(frozen=True)
class FoldFigures:
    """One fold: its split, seeds, the test world's overall figures and the time it took."""

    fold: int
    train_attacks: tuple[str, ...]
    train_negatives: tuple[str, ...]
    held_attacks: tuple[str, ...]
    held_negatives: tuple[str, ...]
    train_seed: int
    test_seed: int
    legit_accounts: int
    legit_flagged: int
    overall_fpr: float | None
    ari: float | None
    background_accounts: int
    background_flagged: int
    full_tie: float
    evidence_bar: float | None
    seconds: float


Phase = Callable[[str, int | None], AbstractContextManager[Advance]]
"""A progress phase: given its name and total units (None: unknown), a context yielding the advance function."""


def _phases(progress: Progress) -> Phase:
    @contextmanager
    def phase(name: str, total: int | None) -> Iterator[Advance]:
        task = progress.add_task(name, total=total)
        try:
            yield lambda n: progress.advance(task, n)
        finally:
            progress.remove_task(task)
    return phase


def simulate_world(attacks: Sequence[str], negatives: Sequence[str], seed: int, args: argparse.Namespace, out: Path,
                   phase: Phase) -> None:
    """Simulate the world of ``attacks`` and ``negatives`` into ``out``."""
    scenario = family_scenario(list(attacks), [BACKGROUND, *negatives], seed=seed, scale=args.scale)
    with phase(f"simulate {out.name} (exchanges)", scenario.expected_exchanges) as advance:
        simulate(scenario, out, args.corpus, seed=seed, intel_dir=args.intel, progress=advance)


def fit_models(train_dir: Path, intel: IpIntel, policy: Policy, l2: float, out: Path, phase: Phase) -> dict[str, Path]:
    """Fit the account and campaign weights on ``train_dir`` as ``bench/fit_risk_weights.py`` does; their files.

    Both biases and both counted-evidence priors are set at the policy's flag threshold.
    """
    with phase("fit weights", None):
        models = fit_risk_models(list(load_samples(train_dir, intel, cache=False)), policy, l2)
    paths = {}
    for model, fitted in models.items():
        paths[model] = out / WEIGHTS_FILES[model]
        fitted = fitted.model_copy(update={"fitted_on": [str(train_dir)], "note": "bench/generalize.py fold fit"})
        paths[model].write_text(yaml.safe_dump(fitted.model_dump(), sort_keys=False), encoding="utf-8")
    return paths


@dataclass(frozen=True)
class Shipped:
    """What every fold uses as shipped: IP intelligence, policy and campaign tunables."""

    intel: IpIntel
    policy: Policy
    tunables: CampaignTunables


def analyze_world(test_dir: Path, weights: dict[str, Path], args: argparse.Namespace, shipped: Shipped, out: Path,
                  phase: Phase) -> None:
    """Analyse (or, with ``--replay``, replay hourly) the test world with the fold's weights into ``out``."""
    settings = with_overrides(
        load_settings(None, environ={}), "bench/generalize.py", db=out / "store.duckdb", intel_dir=args.intel,
        risk_weights=weights["account"], campaign_weights=weights["campaign"],
    )
    logs, accounts = [test_dir / "exchanges.jsonl"], [test_dir / "accounts.jsonl"]
    common = (settings, shipped.policy, shipped.tunables, shipped.intel, logs, accounts, out)
    if args.replay:
        replay_logs(*common, REPLAY_EVERY, phase)
    else:
        analyze(*common, phase)


def fit_tunables(train_dir: Path, weights: dict[str, Path], args: argparse.Namespace, shipped: Shipped, work: Path,
                 phase: Phase) -> CampaignTunables:
    """The campaign tunables with ``full_tie`` fitted on the analysed training world (:mod:`distillguard.eval.tie_fit`);
    written to ``work/campaigns.yaml``."""
    out = work / "train-analysis"
    analyze_world(train_dir, weights, args, shipped, out, phase)
    population = {r["account_id"]: str(r.get("family") or r.get("population"))
                  for _, r in iter_jsonl(train_dir / "labels.jsonl", EvalInputError) if r.get("label") != "attack"}
    with phase("fit full_tie", None), Store(out / "store.duckdb").open() as store:
        stats = build_stats(store, shipped.intel, 50_000)
        fitted = fit_full_tie(store, stats, shipped.policy, shipped.tunables,
                              load_risk_models(weights["account"], weights["campaign"]), population)
    tunables = with_full_tie(shipped.tunables, fitted.full_tie)
    (work / "campaigns.yaml").write_text(yaml.safe_dump(tunables.model_dump(mode="json"), sort_keys=False),
                                         encoding="utf-8")
    if not args.keep:
        shutil.rmtree(out)
    return tunables


def score_families(output: DetectorOutput, labels: Labels, family: np.ndarray, degraded: np.ndarray,
                   log: ExchangeLog | None, fold: Fold, always_held: Sequence[str]) -> list[FamilyFigures]:
    """The held-out families' figures (:func:`distillguard.eval.score_detector` on each family's accounts)."""
    rows = []
    for name in fold.held_attacks:
        members = family == name
        counted = members & (labels.n_exchanges >= MIN_REQUESTS)
        whole = score_detector(output, labels, log, subset=members, subset_name=name)
        shares = [(1.0 if c.time_to_detect is None else c.time_to_detect, c.campaign) for c in whole.campaigns
                  if c.n_exchanges]
        worst_share, worst_campaign = max(shares) if log is not None and shares else (None, None)
        rows.append(FamilyFigures(
            name, "attack", fold.index, name in always_held, int(members.sum()), int(counted.sum()),
            recall=score_detector(output, labels, subset=counted).recall,
            exchange_weighted_recall=whole.exchange_weighted_recall, ari=whole.ari,
            first_flag=worst_share,
            first_flag_floor=None if log is None else cadence_floor(log, labels, worst_campaign, REPLAY_EVERY),
            first_flag_hours=None if log is None else hours_to_first_flag(log, labels, output, worst_campaign),
        ))
    for name in fold.held_negatives:
        members = family == name
        figures = score_detector(output, labels, subset=members, subset_name=name)
        rows.append(FamilyFigures(name, "negative", fold.index, name in always_held, int(members.sum()),
                                  flagged=figures.false_positives, degraded=int((degraded & members).sum()),
                                  family_fpr=figures.fpr))
    return rows


def cadence_floor(log: ExchangeLog, labels: Labels, campaign: str | None, every: timedelta) -> float | None:
    """Share of ``campaign``'s exchanges sent before the end of the first interval of ``every`` (aligned as
    :func:`~distillguard.analysis.replay.replay` aligns them) in which it sends any: its earliest possible flag."""
    rows = np.flatnonzero(labels.campaign == campaign) if campaign else np.empty(0, dtype=np.int64)
    ts = log.ts[np.isin(log.account, rows)]
    if len(ts) == 0:
        return None
    step = int(every.total_seconds() * 1000)
    return float(np.mean(ts < (ts.min() // step + 1) * step))


def hours_to_first_flag(log: ExchangeLog, labels: Labels, output: DetectorOutput, campaign: str | None
                        ) -> float | None:
    """Hours from ``campaign``'s first exchange to the first flag of any of its accounts (None: never flagged)."""
    rows = np.flatnonzero(labels.campaign == campaign) if campaign else np.empty(0, dtype=np.int64)
    flags = output.flagged_at[rows][output.flagged[rows] & ~np.isnan(output.flagged_at[rows])]
    ts = log.ts[np.isin(log.account, rows)]
    if len(flags) == 0 or len(ts) == 0:
        return None
    return float((flags.min() - ts.min()) / 3_600_000)


def kept_fold(work: Path, fold: Fold, shipped: Shipped) -> tuple[dict[str, Path], CampaignTunables]:
    """The fitted weight files and the shipped tunables with the fitted ``full_tie`` of a fold a ``--keep`` run left
    in ``work``; a ``ConfigError`` naming what is missing, or a test world that is not this fold's held-out one."""
    weights = {model: work / name for model, name in WEIGHTS_FILES.items()}
    needed = [*weights.values(), work / "campaigns.yaml", work / "test" / "exchanges.jsonl",
              work / "test" / "labels.jsonl"]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise ConfigError(f"{work}: no kept fold to reuse (run with --keep first): missing {', '.join(missing)}")
    known = {*fold.train_attacks, *fold.train_negatives, *fold.held_attacks, *fold.held_negatives}
    held = {r.get("family") for _, r in iter_jsonl(work / "test" / "labels.jsonl", EvalInputError)} & known
    if held != {*fold.held_attacks, *fold.held_negatives}:
        raise ConfigError(f"{work / 'test' / 'labels.jsonl'}: its families {sorted(held)} are not fold "
                          f"{fold.index}'s held-out ones (another --seed, --folds or --always-held?)")
    full_tie = load_campaign_settings(work / "campaigns.yaml").cluster.full_tie
    return weights, with_full_tie(shipped.tunables, full_tie)


def evidence_bar(weights: dict[str, Path], policy: Policy) -> float | None:
    """Nats of counted evidence from which the fold's account model flags an account on them alone (its fitted
    counted-evidence prior, :func:`~distillguard.eval.risk_fit.set_evidence_bias`); None without one. One training
    family of legitimate accounts that ask for the reasoning on most of their tasks raises it for every held-out
    family."""
    prior = load_risk_models(weights["account"], weights["campaign"]).account.evidence_bias
    if prior is None:
        return None
    flag = policy.flag_threshold
    return float(np.log(flag / (1.0 - flag)) - prior)


def run_fold(fold: Fold, args: argparse.Namespace, shipped: Shipped, progress: Progress
             ) -> tuple[FoldFigures, list[FamilyFigures]]:
    """Simulate, fit, analyse and score one fold under ``args.work/fold-k`` (with ``--reuse``: analyse and score the
    fold kept there, :func:`kept_fold`)."""
    started = time.perf_counter()
    phase = _phases(progress)
    work = args.work / f"fold-{fold.index}"
    train_dir, test_dir, out = work / "train", work / "test", work / "analysis"
    train_seed = 1000 * args.seed + 2 * fold.index
    test_seed = train_seed + 1
    if args.reuse:
        weights, tunables = kept_fold(work, fold, shipped)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    else:
        if work.exists():
            shutil.rmtree(work)
        out.mkdir(parents=True)
        simulate_world(fold.train_attacks, fold.train_negatives, train_seed, args, train_dir, phase)
        weights = fit_models(train_dir, shipped.intel, shipped.policy, args.l2, work, phase)
        tunables = fit_tunables(train_dir, weights, args, shipped, work, phase)
        simulate_world(fold.held_attacks, fold.held_negatives, test_seed, args, test_dir, phase)
    analyze_world(test_dir, weights, args, replace(shipped, tunables=tunables), out, phase)
    labels = read_labels(test_dir / "labels.jsonl")
    output, _ = read_predictions(out, labels)
    log = read_exchange_log([test_dir / "exchanges.jsonl"], labels) if args.replay else None
    family = read_families(test_dir / "labels.jsonl", labels)
    degraded = read_degraded(out / "accounts.jsonl", labels)
    families = score_families(output, labels, family, degraded, log, fold, args.always_held)
    overall = score_detector(output, labels)
    background = score_detector(output, labels, subset=family == BACKGROUND)
    if not args.keep:
        for world in (train_dir, test_dir):
            (world / "exchanges.jsonl").unlink(missing_ok=True)
        (out / "store.duckdb").unlink(missing_ok=True)
    figures = FoldFigures(
        fold.index, fold.train_attacks, fold.train_negatives, fold.held_attacks, fold.held_negatives,
        train_seed, test_seed, overall.n_legit, overall.false_positives, overall.fpr, overall.ari,
        background.n_legit, background.false_positives, tunables.cluster.full_tie,
        evidence_bar(weights, shipped.policy), round(time.perf_counter() - started, 1),
    )
    return figures, families


# ---------------------------------------------------------------- report


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def _meets(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    op, target = TARGETS[metric]
    ok = {">=": value >= target, "<=": value <= target, "<": value < target}[op]
    return "[green]yes[/]" if ok else "[red]no[/]"


def _first_flag(r: FamilyFigures) -> str:
    hours = "never" if r.first_flag_hours is None else f"{r.first_flag_hours:.1f} h"
    return f"{_pct(r.first_flag, 2)} ({_pct(r.first_flag_floor, 2)}), {hours}"


def family_table(rows: list[FamilyFigures], replay: bool) -> Table:
    """Held-out figures, one row per family and fold (``*``: held out of every fold)."""
    table = Table(title="Held-out families (* held out of every fit)")
    for name, justify in (("family", "left"), ("fold", "right"), ("accounts", "right"),
                          (f"recall (≥ {MIN_REQUESTS} req.)", "right"), ("exch.-weighted", "right"), ("ARI", "right"),
                          ("first flag (earliest hourly), hours", "right"), ("FPR", "right"), ("degraded", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in sorted(rows, key=lambda r: (r.kind, r.family, r.fold)):
        name = r.family + (" *" if r.always_held else "")
        if r.kind == "attack":
            table.add_row(name, str(r.fold), f"{r.accounts:,}", f"{_pct(r.recall)} of {r.counted:,}",
                          _pct(r.exchange_weighted_recall, 2), "n/a" if r.ari is None else f"{r.ari:.3f}",
                          _first_flag(r) if replay else "(--replay)",
                          "", "")
        else:
            table.add_row(name, str(r.fold), f"{r.accounts:,}", "", "", "", "",
                          f"{_pct(r.family_fpr, 2)} ({r.flagged} / {r.accounts:,})", f"{r.degraded}")
    return table


def worst(folds: list[FoldFigures], rows: list[FamilyFigures]) -> dict[str, tuple[str, float | None]]:
    """Per metric, the worst held-out family (or fold, for the overall figures) and its value."""
    found: dict[str, tuple[str, float | None]] = {}
    for metric in ("recall", "exchange_weighted_recall", "ari", "first_flag", "family_fpr"):
        scored = [(getattr(r, metric), f"{r.family} (fold {r.fold})") for r in rows if getattr(r, metric) is not None]
        if scored:
            pick = min if TARGETS[metric][0] == ">=" else max
            value, where = pick(scored, key=lambda item: item[0])
            found[metric] = (where, value)
    for metric, attr, scope in (("overall_fpr", "overall_fpr", "all legitimate accounts"),
                                ("ari", "ari", "all flagged attack accounts")):
        scored = [(getattr(f, attr), f"fold {f.fold}, {scope}") for f in folds if getattr(f, attr) is not None]
        if scored:
            pick = min if TARGETS[metric][0] == ">=" else max
            value, where = pick(scored, key=lambda item: item[0])
            found[f"campaign_{metric}" if metric == "ari" else metric] = (where, value)
    return found


def worst_table(found: dict[str, tuple[str, float | None]]) -> Table:
    """The worst held-out figure per metric beside its target."""
    names = {"recall": "account recall (≥ 5 requests)", "exchange_weighted_recall": "exchange-weighted recall",
             "ari": "ARI within a family", "campaign_ari": "campaign ARI (fold)", "first_flag": "first flag",
             "family_fpr": "FPR per negative family", "overall_fpr": "FPR overall"}
    table = Table(title="Worst held-out figure per metric")
    for column in ("metric", "worst", "value", "target", "met"):
        table.add_column(column)
    for metric, (where, value) in found.items():
        op, target = TARGETS["ari" if metric == "campaign_ari" else metric]
        digits = 1 if metric in ("recall", "ari", "campaign_ari") else 2
        shown = f"{value:.3f}" if metric in ("ari", "campaign_ari") and value is not None else _pct(value, digits)
        goal = f"{op} {target}" if metric in ("ari", "campaign_ari") else f"{op} {_pct(target, digits)}"
        table.add_row(names[metric], where, shown, goal, _meets("ari" if metric == "campaign_ari" else metric, value))
    return table


def fold_table(folds: list[FoldFigures]) -> Table:
    """Each fold's split, its test world's overall FPR and campaign ARI, and what its fit set (``full_tie``, the
    counted-evidence bar: :func:`evidence_bar`)."""
    table = Table(title="Folds")
    for column in ("fold", "held out", "trained on", "FPR overall", f"FPR {BACKGROUND}", "campaign ARI", "full_tie",
                   "counted-evidence bar", "time"):
        table.add_column(column)
    for f in folds:
        table.add_row(str(f.fold), ", ".join(f.held_attacks + f.held_negatives),
                      ", ".join(f.train_attacks + f.train_negatives),
                      f"{_pct(f.overall_fpr, 3)} ({f.legit_flagged} / {f.legit_accounts:,})",
                      f"{f.background_flagged} / {f.background_accounts:,}",
                      "n/a" if f.ari is None else f"{f.ari:.3f}", f"{f.full_tie:g}",
                      "n/a" if f.evidence_bar is None else f"{f.evidence_bar:.1f} nats", f"{f.seconds:.0f} s")
    return table


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=3, help="folds (each holds out its share of the families)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the simulated worlds")
    parser.add_argument("--scale", type=float, default=2.0, help="scale of the simulated worlds (family_scenario's)")
    parser.add_argument("--always-held", nargs="*", default=list(ALWAYS_HELD),
                        help="families held out of every fold (never fitted on)")
    parser.add_argument("--replay", action="store_true", help="replay hourly for the time to first flag (slower)")
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/prompts"))
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--l2", type=float, default=0.001, help="L2 penalty of the weight fit")
    parser.add_argument("--work", type=Path, default=Path("runs/generalize"), help="working directory")
    parser.add_argument("--json", type=Path, default=None, help="figures (default: WORK/generalize.json)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated exchanges and the stores")
    parser.add_argument("--reuse", action="store_true",
                        help="analyse again the worlds a --keep run of the same seed and folds left in --work, with "
                             "each fold's fitted weights and full_tie and this code (no simulation, no fit)")
    args = parser.parse_args(argv)
    args.keep = args.keep or args.reuse
    args.attacks = tuple(ATTACK_FAMILIES)
    args.negatives = tuple(f for f in NEGATIVE_FAMILIES if f != BACKGROUND)
    args.json = args.json or args.work / "generalize.json"
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run every fold, print the held-out figures and write them as JSON."""
    args = parse_args(argv)
    os.environ.setdefault(SKETCH_KEY_ENV, f"generalize seed {args.seed}")
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        folds = make_folds(args.attacks, args.negatives, args.always_held, args.folds, args.seed)
        shipped = Shipped(IpIntel.load(args.intel), load_policy(), load_campaign_settings())
        if args.reuse:
            for fold in folds:
                kept_fold(args.work / f"fold-{fold.index}", fold, shipped)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    started = time.perf_counter()
    fold_figures: list[FoldFigures] = []
    rows: list[FamilyFigures] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        overall = progress.add_task("folds", total=len(folds))
        for fold in folds:
            figures, families = run_fold(fold, args, shipped, progress)
            fold_figures.append(figures)
            rows += families
            progress.advance(overall)
    found = worst(fold_figures, rows)
    console.print(fold_table(fold_figures))
    console.print(family_table(rows, args.replay))
    console.print(worst_table(found))
    seconds = round(time.perf_counter() - started, 1)
    console.print(f"{len(folds)} folds in {seconds:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps({
        "settings": {"folds": args.folds, "seed": args.seed, "scale": args.scale, "replay": args.replay,
                     "always_held": list(args.always_held), "l2": args.l2},
        "targets": {k: {"op": op, "value": v} for k, (op, v) in TARGETS.items()},
        "folds": [asdict(f) for f in fold_figures],
        "families": [asdict(r) for r in rows],
        "worst": {k: {"where": where, "value": value} for k, (where, value) in found.items()},
        "seconds": seconds,
    }, option=orjson.OPT_INDENT_2))
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
