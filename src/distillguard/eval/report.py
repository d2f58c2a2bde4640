"""Run an evaluation end to end and show it: rich tables, ``eval.json`` and ``eval.txt``.

:func:`run_eval` is the one entry point the CLI calls
(``distillguard eval --predictions DIR --labels FILE [--baselines --logs LOGS...]``).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from distillguard.eval.baselines import (
    BaselineConfig,
    evaluation_mask,
    run_baselines,
    sample_mask,
)
from distillguard.eval.embeddings import Encoder
from distillguard.eval.inputs import (
    EvalInputError,
    ExchangeLog,
    Labels,
    read_exchange_log,
    read_labels,
    read_predictions,
)
from distillguard.eval.metrics import (
    MIN_COUNTED_EXCHANGES,
    equal_fpr_comparison,
    log_summary,
    predictions_report,
    score_detector,
)
from distillguard.eval.results import DetectorMetrics, EvalReport

EVAL_SUBSET = "a fixed sample of attack accounts + test half of legitimate accounts"
CACHE_DIRNAME = "embeddings-cache"


# ---------------------------------------------------------------- formatting


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _fpr(row: DetectorMetrics) -> str:
    if row.fpr is None:
        return "n/a"
    return f"{_pct(row.fpr, 2)} ({row.false_positives:,} / {row.n_legit:,})"


def _worst(row: DetectorMetrics) -> str:
    wp = row.worst_population
    if wp is None:
        return "n/a"
    return f"{wp.population} {_pct(wp.rate, 2)} ({wp.flagged:,} / {wp.accounts:,})"


def _ari(row: DetectorMetrics, has_campaigns: bool) -> str:
    if not has_campaigns:
        return "n/a (no campaigns)"
    return _num(row.ari)


def detector_table(rows: Sequence[DetectorMetrics], caption: str) -> Table:
    """Detector × metric."""
    table = Table(title="Detectors", caption=caption, caption_justify="left")
    for name, justify in (
        ("detector", "left"), ("precision", "right"), ("recall", "right"), ("FPR", "right"),
        ("worst population FPR", "left"), ("exch.-weighted recall", "right"), ("ARI", "right"),
        ("median time to detect", "right"), ("legit exchanges degraded", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        degraded = row.legit_exchanges_degraded
        table.add_row(
            Text(row.detector),
            _pct(row.precision),
            _pct(row.recall),
            _fpr(row),
            Text(_worst(row)),
            _pct(row.exchange_weighted_recall),
            _ari(row, row.makes_campaigns),
            _pct(row.median_time_to_detect),
            "n/a (no logs)" if degraded is None else degraded.text(),
        )
    return table


def population_table(rows: Sequence[DetectorMetrics]) -> Table:
    """False-positive rate per legitimate population per detector."""
    table = Table(title="False positives per legitimate population")
    table.add_column("population")
    for row in rows:
        table.add_column(Text(row.detector), justify="right")
    populations = sorted({p.population for row in rows for p in row.population_fpr})
    for population in populations:
        cells = []
        for row in rows:
            match = next((p for p in row.population_fpr if p.population == population), None)
            cells.append("n/a" if match is None else match.text())
        table.add_row(Text(population), *cells)
    return table


def campaign_table(row: DetectorMetrics) -> Table:
    """Per true campaign: recall and time to detect of one detector."""
    table = Table(
        title=f"Campaigns ({row.detector}, {row.accounts_scored})",
        caption="time to detect = share of the campaign's exchanges sent before its first flag",
        caption_justify="left",
    )
    for name, justify in (
        ("campaign", "left"), ("accounts", "right"), ("flagged", "right"), ("recall", "right"),
        ("predicted campaigns", "right"), ("exchanges", "right"), ("first flag", "left"),
        ("time to detect", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in row.campaigns:
        table.add_row(
            Text(c.campaign),
            f"{c.accounts:,}",
            f"{c.flagged_accounts:,}",
            _pct(c.recall),
            "n/a" if c.predicted_campaigns is None else f"{c.predicted_campaigns:,}",
            "n/a" if c.n_exchanges is None else f"{c.n_exchanges:,}",
            c.first_flag_at or "never",
            "n/a" if c.time_to_detect is None else _pct(c.time_to_detect),
        )
    return table


def baseline_table(rows: Sequence[DetectorMetrics]) -> Table:
    """Each baseline's score and calibrated threshold."""
    table = Table(title="Baselines")
    table.add_column("detector")
    table.add_column("threshold", justify="right")
    table.add_column("score")
    for row in rows:
        if row.threshold is not None:
            table.add_row(Text(row.detector), f"{row.threshold:.6g}", Text(row.description))
    return table


def renderables(report: EvalReport) -> list[RenderableType]:
    """Everything :func:`run_eval` shows, in order."""
    out: list[RenderableType] = []
    if report.comparison:
        run = report.baselines
        pct = _pct(run.target_fpr, 2) if run else "n/a"
        caption = (
            f"Every detector scored on {EVAL_SUBSET} "
            f"({run.attack_accounts:,} attack + {run.test_legit_accounts:,} legit); "
            f"baseline thresholds set at {pct} FPR on the other {run.calibration_accounts:,} "
            "legit accounts (calibration half) only. Median time to detect counts a never-"
            "flagged campaign as 100%."
            if run
            else f"Scored on {EVAL_SUBSET}."
        )
        rows = report.comparison
    else:
        caption = (
            f"Scored on all {report.predictions.n_accounts:,} labelled accounts. "
            "Median time to detect counts a never-flagged campaign as 100%."
        )
        rows = [report.predictions]
    out.append(detector_table(rows, caption))
    out.append(population_table(rows))
    if report.comparison:
        out.append(baseline_table(report.comparison))
    out.append(campaign_table(report.predictions))
    lines = [f"predictions: {report.n_predictions:,} accounts"]
    if report.n_predicted_campaigns is not None:
        lines[-1] += f", {report.n_predicted_campaigns:,} campaigns"
    if report.counted_recall is not None:
        lines.append(f"recall over campaign accounts with >= {MIN_COUNTED_EXCHANGES} exchanges (all labelled "
                     f"accounts): {report.counted_recall.text()}")
    eq = report.equal_fpr
    if eq is not None:
        others = ", ".join(f"{name} {rate:.1%}" for name, rate in eq.baseline_recall.items())
        ratio = "inf (best baseline catches none)" if eq.ratio is None else f"{eq.ratio:.1f}x"
        lines.append(f"recall at equal FPR ({eq.fpr:.2%}, comparison accounts): {report.predictions.detector} "
                     f"{eq.recall:.1%}; baselines {others}; vs best ({eq.best_baseline}): {ratio}")
    for row in [report.predictions, *report.comparison]:
        lines.extend(f"{row.detector}: {note}" for note in row.notes)
    if report.logs is not None:
        lg = report.logs
        lines.append(
            f"logs: {lg.exchanges_read:,} exchanges read ({lg.exchanges_unlabelled:,} of unlabelled "
            f"accounts, {lg.rejects:,} rejects) in {lg.seconds:.1f} s; "
            f"{lg.accounts_count_mismatch:,} accounts whose exchange count differs from the labels"
        )
    else:
        lines.append("no logs: time to detect and degraded exchanges not computed")
    if report.baselines is not None:
        lines.extend(report.baselines.notes)
        emb = report.baselines.embedding
        if emb is not None:
            speed = "n/a" if emb.texts_per_second is None else f"{emb.texts_per_second:,.1f} texts/s"
            lines.append(
                f"embeddings ({emb.model}): {emb.queries:,} queries, {emb.distinct_texts:,} distinct "
                f"texts, {emb.from_cache:,} from cache, {emb.embedded:,} embedded in "
                f"{emb.seconds:.1f} s ({speed}; model load {emb.model_load_seconds:.1f} s)"
            )
    out.append(Text("\n".join(lines)))
    return out


def _spaced(report: EvalReport) -> Group:
    items: list[RenderableType] = []
    for item in renderables(report):
        items.extend((item, Text("")))
    return Group(*items[:-1])


def render(report: EvalReport, console: Console) -> None:
    """Print the report's tables to ``console``."""
    console.print(_spaced(report))


def write_outputs(report: EvalReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``eval.json`` and the plain-text tables ``eval.txt`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "eval.json"
    json_path.write_bytes(report.to_json())
    buffer = io.StringIO()
    Console(file=buffer, width=200, no_color=True, color_system=None).print(_spaced(report))
    text_path = out_dir / "eval.txt"
    text_path.write_text(buffer.getvalue(), encoding="utf-8")
    return json_path, text_path


# ---------------------------------------------------------------- running


def evaluate(
    predictions_dir: Path,
    labels: Labels,
    log: ExchangeLog | None,
    *,
    baselines: bool = False,
    config: BaselineConfig | None = None,
    cache_dir: Path | None = None,
    encoder: Encoder | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalReport:
    """Score the predictions (and with ``baselines`` the baselines) on already-read inputs."""
    start = time.perf_counter()
    output, info = read_predictions(Path(predictions_dir), labels)
    report = predictions_report(output, info, labels, log)
    report.seconds["metrics"] = round(time.perf_counter() - start, 3)
    if baselines:
        if log is None:
            raise EvalInputError("the baselines need the exchange logs (--logs)")
        config = config or BaselineConfig()
        outputs, run = run_baselines(
            labels, log, config, cache_dir=cache_dir, encoder=encoder, progress=progress
        )
        start = time.perf_counter()
        mask = evaluation_mask(labels) & sample_mask(labels, config.sample_per_group)
        report.comparison = [
            score_detector(d, labels, log, mask, EVAL_SUBSET) for d in (output, *outputs)
        ]
        report.equal_fpr = equal_fpr_comparison(output, list(outputs), labels, mask)
        report.baselines = run
        report.seconds["baselines"] = round(sum(run.seconds.values()), 3)
        report.seconds["comparison_metrics"] = round(time.perf_counter() - start, 3)
    return report


def run_eval(
    predictions_dir: Path,
    labels_path: Path,
    logs: Sequence[Path] | None = None,
    baselines: bool = False,
    out_dir: Path | None = None,
    console: Console | None = None,
    *,
    config: BaselineConfig | None = None,
    encoder: Encoder | None = None,
    cache_dir: Path | None = None,
) -> EvalReport:
    """Evaluate, print the tables, and write ``eval.json`` / ``eval.txt`` to ``out_dir``.

    ``out_dir`` defaults to the predictions directory; the embedding cache of
    the baselines defaults to ``out_dir/embeddings-cache``.
    """
    start = time.perf_counter()
    predictions_dir = Path(predictions_dir)
    out_dir = Path(out_dir) if out_dir is not None else predictions_dir
    if baselines and not logs:
        raise EvalInputError("the baselines need the exchange logs (--logs)")
    config = config or BaselineConfig()
    labels = read_labels(Path(labels_path))
    log = summary = None
    if logs:
        t0 = time.perf_counter()
        log = read_exchange_log(
            list(logs), labels, with_prompts=baselines, prompt_chars=config.prompt_chars
        )
        summary = log_summary(log, labels, time.perf_counter() - t0)
    report = evaluate(
        predictions_dir,
        labels,
        log,
        baselines=baselines,
        config=config,
        cache_dir=cache_dir if cache_dir is not None else out_dir / CACHE_DIRNAME,
        encoder=encoder,
        progress=None if console is None else (lambda line: console.print(Text(line + "…", "dim"))),
    )
    report.logs = summary
    report.seconds["total"] = round(time.perf_counter() - start, 3)
    write_outputs(report, out_dir)
    if console is not None:
        render(report, console)
    return report
