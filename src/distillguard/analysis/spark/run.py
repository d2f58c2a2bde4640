"""``analyze`` on Spark: the logs read, signalled and aggregated there, the assessment on the driver.

Spark reads the logs and computes the signals (:mod:`.exchanges`), the account statistics (:mod:`.partials`),
and runs the store's population and linking queries, transpiled (:class:`~distillguard.store.spark.SparkSql`).
The driver clusters, decides and writes with the embedded engine's code (:func:`~distillguard.analysis.assess`);
account records and partner reports come from the DuckDB store, and the run's decisions, campaigns and features
go back to it, as the embedded ``analyze`` keeps them. The exchanges stay where they are (the lake).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import SparkSession

from distillguard.accounts import IpIntel
from distillguard.analysis.assess import assess, flag_times
from distillguard.analysis.ingest import IngestCounts
from distillguard.analysis.outputs import save, write_outputs
from distillguard.analysis.run import AnalysisResult, ProgressFactory, no_progress, risk_models, signal_registry
from distillguard.analysis.spark.exchanges import SparkLogs, exchange_view, log_files, read_logs, signal_view
from distillguard.analysis.spark.partials import account_stats
from distillguard.analysis.stats import sketch_key
from distillguard.analysis.timings import Timings
from distillguard.campaigns.settings import CampaignTunables
from distillguard.config import Settings
from distillguard.ingest import RejectSink, read_accounts
from distillguard.policy import Policy
from distillguard.store import Store
from distillguard.store.results import earlier_flags
from distillguard.store.spark import SparkSql, copy_store_tables

ROOT = "analyze on Spark (CPU s: this driver process only, not the JVM's or the executors')"
"""The root phase's name: the CPU seconds of every phase are the Python driver's, not the job's."""


def analyze_spark(session: SparkSession, settings: Settings, policy: Policy, tunables: CampaignTunables, intel: IpIntel,
                  logs: list[Path], accounts: list[Path], out_dir: Path, partitions: int | None = None,
                  progress: ProgressFactory = no_progress) -> AnalysisResult:
    """Analyse ``logs`` (files, or directories of them) on Spark; write the outputs and keep the run in the store.

    ``partitions`` is the number of time ranges the account statistics are built over (Spark's default
    parallelism when None); ``progress`` is told each phase: the logs read with their signals (files), the
    account statistics (exchanges) and the assessment (accounts). The decisions and campaigns are those the
    embedded ``analyze`` gives on the same logs into an empty store.

    The result's timings name the embedded engine's phases (``ingest``, ``account fingerprints``, ``assess`` with
    its steps, ``outputs``, ``save the run``) plus ``store tables to Spark``. Spark is lazy: each phase holds the
    actions that run its work (see :func:`read_logs` and :func:`account_stats` for theirs), and the assessment's
    steps include the Spark SQL jobs they start (its ``indicators``: the linking candidates). Wall seconds are the
    job's; CPU seconds are this driver process's alone (the JVM, its executors and their Python workers not
    counted), as the root phase's name says.
    """
    started = datetime.now(UTC)
    timings = Timings()
    with timings.phase(ROOT):
        models = risk_models(settings)
        files = log_files(logs)
        with Store(settings.db).open() as store:
            with timings.phase("ingest"):
                counts, read = _ingest(session, settings, store, files, accounts, out_dir, progress, timings)
            try:
                with timings.phase("store tables to Spark"):
                    source = SparkSql(session)
                    source.put("exchanges", exchange_view(read.rows))
                    source.put("signals", signal_view(read.rows, read.signal_columns))
                    copy_store_tables(store, source)
                with timings.phase("account fingerprints"), \
                        progress("account statistics on Spark (exchanges)", read.kept) as advance:
                    stats = account_stats(read.rows, intel, sketch_key(store),
                                          partitions or session.sparkContext.defaultParallelism, timings)
                    advance(read.kept)
                with timings.phase("assess"), progress(
                        "assess: population and linking SQL on Spark, clustering and policy here (accounts)",
                        len(stats)) as advance:
                    assessment = assess(source, stats, policy, tunables=tunables, decided_at=read.end, models=models,
                                        timings=timings)
                    advance(len(stats))
            finally:
                read.release()
            with timings.phase("outputs"):
                flagged_at = flag_times(assessment.decisions, earlier_flags(store), read.end)
                write_outputs(out_dir, assessment, flagged_at)
            with timings.phase("save the run"):
                run_id = save(store, kind="analyze", started_at=started, inputs=logs, assessment=assessment,
                              flagged_at=flagged_at, counts=counts)
    return AnalysisResult(run_id, counts, read.kept, assessment, flagged_at, timings=timings)


def _ingest(session: SparkSession, settings: Settings, store: Store, files: list[Path], accounts: list[Path], out_dir: Path,
            progress: ProgressFactory, timings: Timings) -> tuple[IngestCounts, SparkLogs]:
    """The account records into the store, the logs read on Spark with their signals, the rejects written."""
    sink = RejectSink(out_dir / "rejects.jsonl", strict=settings.analyze.strict)
    counts = IngestCounts()
    clock = time.perf_counter()
    try:
        with timings.phase("account records"):
            for path in accounts:
                for batch in read_accounts(path, settings.analyze.batch_size, settings.analyze.limits):
                    sink.add(batch.rejects)
                    counts.accounts += store.upsert_accounts(batch.table)
        with progress("read logs and signals on Spark (files)", len(files)) as advance:
            read = read_logs(session, files, batch_size=settings.analyze.batch_size, limits=settings.analyze.limits,
                             signals=signal_registry(settings), keep_text=settings.analyze.store_text, timings=timings)
            advance(len(files))
        try:
            with timings.phase("rejects written"):
                sink.add(read.rejects)  # raises at the first under --strict
        except BaseException:
            read.release()
            raise
    finally:
        sink.close()
    counts.lines, counts.bytes, counts.duplicates, counts.new = read.lines, read.bytes, read.duplicates, read.kept
    counts.rejected, counts.rejects_by_reason = sink.total, dict(sink.counts)
    counts.seconds = time.perf_counter() - clock
    return counts, read
