"""``distillguard`` commands: simulate, analyze, replay, eval."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from distillguard import __version__
from distillguard.accounts import IpIntel
from distillguard.analysis import AnalysisResult, Timings, analyze, replay_logs
from distillguard.campaigns.settings import CampaignTunables, load_campaign_settings
from distillguard.cli.campaign_cmd import campaign_app
from distillguard.cli.console import ConfigOpt, DbOpt, IntelOpt, console, errors, out
from distillguard.cli.console_cmd import console_app
from distillguard.cli.gateway_cmd import gateway_cmd
from distillguard.cli.intel_cmd import intel_app
from distillguard.cli.signup_cmd import signup_app
from distillguard.config import Settings, load_settings, with_overrides
from distillguard.core.decision import Action
from distillguard.core.errors import ConfigError
from distillguard.eval import run_eval
from distillguard.policy import Policy, load_policy
from distillguard.sim import load_scenario, simulate
from distillguard.sim.families import (
    ATTACK_FAMILIES,
    CAMPAIGNS_PER_FAMILY,
    NEGATIVE_FAMILIES,
    family_scenario,
    split_names,
)
from distillguard.sim.scenario import LOG_FIELDS, LogFields

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Detect and attribute LLM distillation attacks.")
app.command("gateway")(gateway_cmd)
app.add_typer(signup_app, name="signup")
app.add_typer(campaign_app, name="campaign")
app.add_typer(intel_app, name="intel")
app.add_typer(console_app, name="console")

PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Policy YAML [default: the shipped policy].")]
AccountsOpt = Annotated[list[Path] | None, typer.Option(
    "--accounts", help="Account records (JSONL, .gz or Parquet); repeatable.")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Records per batch (memory is bounded by it).")]
TextOpt = Annotated[bool, typer.Option(
    "--store-text/--no-store-text", help="Keep prompt and response text in the store, or only hashes and signals.")]
PromptSetsOpt = Annotated[Path | None, typer.Option(
    "--prompt-sets", help="Directory of known public prompt sets (*.jsonl): marks exchanges that sweep them.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Stop at the first record that cannot be read.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"distillguard {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Detect, attribute, counter and share intelligence on LLM distillation attacks."""


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        disable=not console.is_terminal and not sys.stderr.isatty(),
    )


def _settings(config: Path | None, db: Path | None, intel: Path | None, batch: int | None, store_text: bool,
              strict: bool, prompt_sets: Path | None) -> Settings:
    settings = load_settings(config)
    analyze: dict[str, object] = {"store_text": store_text and settings.analyze.store_text,
                                  "strict": strict or settings.analyze.strict}
    if batch is not None:
        analyze["batch_size"] = batch
    if prompt_sets is not None:
        analyze["prompt_sets"] = prompt_sets
    top = {name: value for name, value in (("db", db), ("intel_dir", intel)) if value is not None}
    return with_overrides(settings, "command line", analyze=analyze, **top)


@app.command("simulate")
def simulate_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for exchanges, accounts, labels and truth.")],
    scenario: Annotated[str | None, typer.Option(
        "--scenario", help="Built-in scenario (smoke, dev, large) or a YAML file.")] = None,
    attack: Annotated[str | None, typer.Option("--families", help=(
        f"Or draw the scenario: comma-separated attack families, {CAMPAIGNS_PER_FAMILY} campaigns each "
        f"({', '.join(ATTACK_FAMILIES)})."))] = None,
    negatives: Annotated[str | None, typer.Option("--negatives", help=(
        "Comma-separated hard-negative families drawn with --families, one population each "
        f"({', '.join(NEGATIVE_FAMILIES)})."))] = None,
    scale: Annotated[float, typer.Option("--scale", help="With --families: multiplies accounts and exchanges.")] = 1.0,
    corpus: Annotated[Path | None, typer.Option(
        "--corpus", help="Directory of prompt corpora (*.jsonl); built-in procedural prompts if omitted.")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Random seed (overrides the scenario's; draws the families).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl, jsonl.gz or parquet.")] = "jsonl",
    intel: IntelOpt = None,
    without: Annotated[str | None, typer.Option("--without", help=(
        f"Leave out of the logs (comma-separated): any of {', '.join(LOG_FIELDS)}."))] = None,
) -> None:
    """Simulate realistic API traffic with ground truth from real prompt corpora.

    Give --scenario, or draw a scenario from attack and hard-negative families: --families, --negatives (--scale, --seed).

    In a drawn scenario, campaign ids are <family>-<n>, populations bear their family's name; labels.jsonl has a family.
    """
    with errors():
        if (scenario is None) == (attack is None and negatives is None):
            raise ConfigError("simulate: give either --scenario or --families / --negatives")
        spec = load_scenario(scenario) if scenario is not None else family_scenario(
            split_names(attack), split_names(negatives), seed=seed or 0, scale=scale)
        if without is not None:
            spec = spec.model_copy(update={"log": LogFields.without(split_names(without))})
        if intel is None and corpus is not None and (corpus.parent / "intel").is_dir():
            intel = corpus.parent / "intel"
        with _progress() as progress:
            task = progress.add_task("simulate", total=spec.expected_exchanges)
            summary = simulate(spec, out_dir, corpus, seed=seed, fmt=fmt, intel_dir=intel,
                               progress=lambda n: progress.advance(task, n))
        out.print(summary.table())


def _setup(config: Path | None, db: Path | None, intel: Path | None, batch: int | None, store_text: bool,
           strict: bool, policy: Path | None, prompt_sets: Path | None
           ) -> tuple[Settings, Policy, CampaignTunables, IpIntel]:
    """Settings, policy, campaign tunables and IP intelligence, all validated before any work starts."""
    settings = _settings(config, db, intel, batch, store_text, strict, prompt_sets)
    return settings, load_policy(policy), load_campaign_settings(settings.campaigns), IpIntel.load(settings.intel_dir)


@contextmanager
def _phase(name: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar for one phase of the analysis."""
    with _progress() as progress:
        task = progress.add_task(name, total=total)
        yield lambda n: progress.advance(task, n)


@app.command("analyze")
def analyze_cmd(
    logs: Annotated[list[Path], typer.Argument(help="Exchange logs (JSONL, .gz or Parquet).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for accounts.jsonl, campaigns.jsonl, rejects.jsonl.")],
    accounts: AccountsOpt = None,
    db: DbOpt = None, intel: IntelOpt = None, policy: PolicyOpt = None, config: ConfigOpt = None,
    batch_size: BatchOpt = None, store_text: TextOpt = True, strict: StrictOpt = False,
    prompt_sets: PromptSetsOpt = None,
    engine: Annotated[str, typer.Option("--engine", help=(
        "duckdb (embedded: the logs go into the store) or spark (the logs and directories of them are read and "
        "aggregated on Spark; under spark-submit on its master, else on every local core)."))] = "duckdb",
) -> None:
    """Ingest logs, compute signals and account fingerprints, link campaigns, decide actions."""
    with errors():
        if engine not in ("duckdb", "spark"):
            raise ConfigError(f"analyze: --engine must be duckdb or spark, not {engine!r}")
        settings, rules, tunables, ip_intel = _setup(config, db, intel, batch_size, store_text, strict, policy, prompt_sets)
        t0 = time.perf_counter()
        if engine == "spark":
            from distillguard.analysis.spark import analyze_spark, spark_session  # Spark loads only when asked for

            result = analyze_spark(spark_session(), settings, rules, tunables, ip_intel, logs, accounts or [], out_dir,
                                   progress=_phase)
        else:
            result = analyze(settings, rules, tunables, ip_intel, logs, accounts or [], out_dir, _phase)
        out.print(_summary(result, time.perf_counter() - t0, settings.db, out_dir))
        if result.timings.phases:
            out.print(_phases(result.timings))


@app.command("replay")
def replay_cmd(
    logs: Annotated[list[Path], typer.Argument(help="Exchange logs (JSONL, .gz or Parquet).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for accounts.jsonl, campaigns.jsonl, replay.jsonl.")],
    every: Annotated[str, typer.Option("--every", help="Re-decide at every interval of this length (e.g. 30m, 1h, 1d).")] = "1h",
    accounts: AccountsOpt = None,
    db: DbOpt = None, intel: IntelOpt = None, policy: PolicyOpt = None, config: ConfigOpt = None,
    batch_size: BatchOpt = None, store_text: TextOpt = True, strict: StrictOpt = False,
    prompt_sets: PromptSetsOpt = None,
) -> None:
    """Process the logs in time order and re-decide at every interval, as a deployment would."""
    with errors():
        step = _duration(every)
        settings, rules, tunables, ip_intel = _setup(config, db, intel, batch_size, store_text, strict, policy, prompt_sets)
        t0 = time.perf_counter()
        result = replay_logs(settings, rules, tunables, ip_intel, logs, accounts or [], out_dir, step, _phase)
        if result.assessment is None:
            console.print("nothing to replay: the store holds no exchanges", style="yellow")
            raise typer.Exit(0)
        out.print(_summary(result, time.perf_counter() - t0, settings.db, out_dir))
        out.print(_phases(result.timings))


@app.command("eval")
def eval_cmd(
    predictions: Annotated[Path, typer.Option(
        "--predictions", help="Directory holding accounts.jsonl and campaigns.jsonl.")],
    labels: Annotated[Path, typer.Option("--labels", help="Ground truth labels.jsonl (from simulate).")],
    baselines: Annotated[bool, typer.Option(
        "--baselines", help="Also run the volume, PRADA and MMD baselines on --logs.")] = False,
    logs: Annotated[list[Path] | None, typer.Option(
        "--logs", help="Exchange logs (for time to detect, degraded share and baselines); repeatable.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Where eval.json goes [default: the predictions directory].")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", help="Embedding cache of the baselines [default: OUT/embeddings-cache].")] = None,
) -> None:
    """Score predictions against ground truth, optionally beside peer baselines on the same logs."""
    with errors():
        if baselines and not logs:
            raise typer.BadParameter("--baselines needs --logs")
        run_eval(predictions, labels, logs or None, baselines, out_dir or predictions, out, cache_dir=cache_dir)


_DURATION = re.compile(r"^(\d+)\s*([smhd])$")


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter(f"--every {text!r}: expected a positive duration such as 30m, 1h or 1d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _summary(result: AnalysisResult, seconds: float, db: Path, out_dir: Path) -> Table:
    counts, assessment, n_stored = result.counts, result.assessment, result.n_stored
    table = Table(title="distillguard analysis", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rate = counts.lines / counts.seconds if counts.seconds else 0.0
    table.add_row("lines read", f"{counts.lines:,}")
    table.add_row("exchanges stored (new / duplicate)", f"{counts.new:,} / {counts.duplicates:,}")
    rejected = f"  ({_top(counts.rejects_by_reason)})" if counts.rejected else ""
    table.add_row("records rejected", f"{counts.rejected:,}{rejected}")
    table.add_row("account records", f"{counts.accounts:,}")
    table.add_row("ingest throughput", f"{rate:,.0f} exchanges/s, {counts.bytes / 1e6 / max(counts.seconds, 1e-9):,.1f} MB/s")
    table.add_row("exchanges in store", f"{n_stored:,}")
    if assessment is not None:
        actions: dict[str, int] = {}
        for d in assessment.decisions:
            actions[d.action.value] = actions.get(d.action.value, 0) + 1
        table.add_row("accounts", f"{len(assessment.decisions):,}")
        for action in Action:
            if actions.get(action.value):
                table.add_row(f"  {action.value}", f"{actions[action.value]:,}")
        table.add_row("flagged accounts", f"{sum(d.flagged for d in assessment.decisions):,}")
        table.add_row("campaigns", f"{len(assessment.campaigns):,}")
        for c in sorted(assessment.campaigns, key=lambda c: -c.n_accounts)[:10]:
            table.add_row(f"  {c.campaign_id}",
                          f"{c.n_accounts:,} accounts, {c.n_exchanges:,} exchanges, confidence {c.confidence:.2f}")
    table.add_row("elapsed", f"{seconds:,.1f} s")
    table.add_row("store", str(db))
    table.add_row("outputs", str(out_dir))
    return table


def _phases(timings: Timings) -> Table:
    table = Table(title="phases", title_justify="left")
    table.add_column("phase")
    table.add_column("wall s", justify="right")
    table.add_column("CPU s", justify="right")
    table.add_column("peak GiB", justify="right")
    for label, wall, cpu, peak in timings.rows():
        table.add_row(label, f"{wall:,.1f}", f"{cpu:,.1f}", "" if peak is None else f"{peak / 2**30:,.2f}")
    table.caption = "peak: this process's peak resident memory when the phase ended (ingest workers' are their own)"
    return table


def _top(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason}: {n:,}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])
