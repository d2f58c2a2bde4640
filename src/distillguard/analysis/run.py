"""The analysis as one call: ingest the logs, build the account statistics, assess, write and keep the results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from distillguard.accounts import IpIntel
from distillguard.accounts.risk import RiskModels, load_risk_models
from distillguard.analysis.assess import Assessment, assess, flag_times
from distillguard.analysis.ingest import IngestCounts, ingest
from distillguard.analysis.outputs import save, write_outputs
from distillguard.analysis.replay import ReplayStep, replay
from distillguard.analysis.stats import build_stats, pending_exchanges
from distillguard.analysis.timings import Timings
from distillguard.campaigns.settings import CampaignTunables
from distillguard.config import Settings
from distillguard.core.atomic import atomic_write
from distillguard.ingest import RejectSink
from distillguard.policy import Policy
from distillguard.signals import SIGNALS, DatasetSweepSignal, PromptSetIndex, Signal
from distillguard.store import Store
from distillguard.store.results import earlier_flags
from distillguard.store.traffic import data_end, exchange_count

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int], AbstractContextManager[Advance]]
"""Given a phase's name and total units, a context yielding the function told each unit of progress."""


@contextmanager
def no_progress(name: str, total: int) -> Iterator[Advance]:
    """A :data:`ProgressFactory` that shows nothing."""
    yield lambda n: None


@dataclass
class AnalysisResult:
    """What a run read, decided and kept: ``assessment`` is None when the store held no exchange to replay;
    ``timings``, the wall and CPU seconds of its phases."""

    run_id: str | None
    counts: IngestCounts
    n_stored: int
    assessment: Assessment | None
    flagged_at: dict[str, datetime] = field(default_factory=dict)
    steps: list[ReplayStep] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def signal_registry(settings: Settings) -> dict[str, Signal] | None:
    """The signal registry, with the dataset-sweep signal when prompt sets are configured (None: the default)."""
    if settings.analyze.prompt_sets is None:
        return None
    index = PromptSetIndex.from_directory(settings.analyze.prompt_sets)
    return {**SIGNALS, "sweep_item": DatasetSweepSignal(index)}


def risk_models(settings: Settings) -> RiskModels:
    """The risk weights the settings name (the shipped ones where None); ConfigError naming a bad file."""
    return load_risk_models(settings.risk_weights, settings.campaign_weights)


def _ingest(store: Store, settings: Settings, logs: list[Path], accounts: list[Path], out_dir: Path,
            progress: ProgressFactory) -> tuple[IngestCounts, int]:
    total = sum(p.stat().st_size for p in logs if p.exists())
    sink = RejectSink(out_dir / "rejects.jsonl", strict=settings.analyze.strict)
    try:
        with progress("ingest (bytes)", total) as advance:
            counts = ingest(store, logs, accounts, sink, batch_size=settings.analyze.batch_size,
                            keep_text=settings.analyze.store_text, limits=settings.analyze.limits,
                            signals=signal_registry(settings), advance=advance)
    finally:
        sink.close()
    return counts, exchange_count(store)


@dataclass
class _Ingested:
    """An opened store with the logs ingested: what :func:`analyze` and :func:`replay_logs` go on from."""

    store: Store
    started: datetime
    models: RiskModels
    counts: IngestCounts
    n_stored: int


@contextmanager
def _ingested(settings: Settings, logs: list[Path], accounts: list[Path], out_dir: Path, progress: ProgressFactory,
              timings: Timings) -> Iterator[_Ingested]:
    """The risk models loaded, the store open for the block, ``logs`` and ``accounts`` ingested into it (``ingest``)."""
    started = datetime.now(UTC)
    models = risk_models(settings)
    with Store(settings.db).open() as store:
        with timings.phase("ingest"):
            counts, n_stored = _ingest(store, settings, logs, accounts, out_dir, progress)
        yield _Ingested(store, started, models, counts, n_stored)


def analyze(settings: Settings, policy: Policy, tunables: CampaignTunables, intel: IpIntel, logs: list[Path],
            accounts: list[Path], out_dir: Path, progress: ProgressFactory = no_progress) -> AnalysisResult:
    """Ingest ``logs`` and ``accounts`` into the store, decide for every stored account, write and keep the results."""
    timings = Timings()
    with timings.phase("analyze"), _ingested(settings, logs, accounts, out_dir, progress, timings) as run:
        store = run.store
        with timings.phase("account fingerprints"), \
                progress("account fingerprints", pending_exchanges(store, intel)) as advance:
            stats = build_stats(store, intel, settings.analyze.batch_size, advance, timings)
        with timings.phase("assess"):
            end = data_end(store)
            assessment = assess(store, stats, policy, tunables=tunables, decided_at=end, models=run.models,
                                timings=timings)
        with timings.phase("outputs"):
            flagged_at = flag_times(assessment.decisions, earlier_flags(store), end)
            write_outputs(out_dir, assessment, flagged_at)
        with timings.phase("save the run"):
            run_id = save(store, kind="analyze", started_at=run.started, inputs=logs, assessment=assessment,
                          flagged_at=flagged_at, counts=run.counts)
    return AnalysisResult(run_id, run.counts, run.n_stored, assessment, flagged_at, timings=timings)


def replay_logs(settings: Settings, policy: Policy, tunables: CampaignTunables, intel: IpIntel, logs: list[Path],
                accounts: list[Path], out_dir: Path, every: timedelta, progress: ProgressFactory = no_progress
                ) -> AnalysisResult:
    """Ingest, then re-decide at the end of every interval in time order; write ``replay.jsonl`` beside the outputs."""
    timings = Timings()
    with timings.phase("replay"):
        with _ingested(settings, logs, accounts, out_dir, progress, timings) as run:
            store = run.store
            with timings.phase(f"re-decide every {every}"), progress(f"replay every {every}", run.n_stored) as advance:
                done = replay(store, intel, lambda stats, at: assess(store, stats, policy, at, tunables, models=run.models,
                                                                     timings=timings),
                              every, settings.analyze.batch_size, advance, timings)
            if done.last is None:
                return AnalysisResult(None, run.counts, run.n_stored, None, timings=timings)
            with timings.phase("outputs"):
                write_outputs(out_dir, done.last, done.first_flag)
            with timings.phase("save the run"):
                run_id = save(store, kind="replay", started_at=run.started, inputs=logs, assessment=done.last,
                              flagged_at=done.first_flag, counts=run.counts)
        with timings.phase("outputs"), atomic_write(out_dir / "replay.jsonl") as fh:
            for s in done.steps:
                fh.write(orjson.dumps({"at": s.at.isoformat(), "exchanges": s.exchanges,
                                       "flagged": s.flagged, "campaigns": s.campaigns}) + b"\n")
    return AnalysisResult(run_id, run.counts, run.n_stored, done.last, done.first_flag, done.steps, timings)
