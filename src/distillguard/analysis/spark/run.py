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
from distillguard.analysis.spark.exchanges import exchange_view, log_files, read_logs, signal_view
from distillguard.analysis.spark.partials import account_stats
from distillguard.campaigns.settings import CampaignTunables
from distillguard.config import Settings
from distillguard.ingest import RejectSink, read_accounts
from distillguard.policy import Policy
from distillguard.store import Store
from distillguard.store.results import earlier_flags
from distillguard.store.spark import SparkSql, copy_store_tables


def analyze_spark(session: SparkSession, settings: Settings, policy: Policy, tunables: CampaignTunables, intel: IpIntel,
                  logs: list[Path], accounts: list[Path], out_dir: Path, partitions: int | None = None,
                  progress: ProgressFactory = no_progress) -> AnalysisResult:
    """Analyse ``logs`` (files, or directories of them) on Spark; write the outputs and keep the run in the store.

    ``partitions`` is the number of time ranges the account statistics are built over (Spark's default
    parallelism when None); ``progress`` is told each phase: the logs read with their signals (files), the
    account statistics (exchanges) and the assessment (accounts). The decisions and campaigns are those the
    embedded ``analyze`` gives on the same logs into an empty store.
    """
    started = datetime.now(UTC)
    models = risk_models(settings)
    files = log_files(logs)
    sink = RejectSink(out_dir / "rejects.jsonl", strict=settings.analyze.strict)
    counts = IngestCounts()
    clock = time.perf_counter()
    with Store(settings.db).open() as store:
        try:
            for path in accounts:
                for batch in read_accounts(path, settings.analyze.batch_size, settings.analyze.limits):
                    sink.add(batch.rejects)
                    counts.accounts += store.upsert_accounts(batch.table)
            with progress("read logs and signals on Spark (files)", len(files)) as advance:
                read = read_logs(session, files, batch_size=settings.analyze.batch_size, limits=settings.analyze.limits,
                                 signals=signal_registry(settings), keep_text=settings.analyze.store_text)
                advance(len(files))
            try:
                sink.add(read.rejects)  # raises at the first under --strict
            except BaseException:
                read.release()
                raise
        finally:
            sink.close()
        try:
            n_stored, end = read.kept, read.end
            counts.lines, counts.bytes, counts.duplicates, counts.new = read.lines, read.bytes, read.duplicates, n_stored
            counts.rejected, counts.rejects_by_reason = sink.total, dict(sink.counts)
            counts.seconds = time.perf_counter() - clock
            source = SparkSql(session)
            source.put("exchanges", exchange_view(read.rows))
            source.put("signals", signal_view(read.rows, read.signal_columns))
            copy_store_tables(store, source)
            with progress("account statistics on Spark (exchanges)", n_stored) as advance:
                stats = account_stats(read.rows, intel, partitions or session.sparkContext.defaultParallelism)
                advance(n_stored)
            with progress("assess: population and linking SQL on Spark, clustering and policy here (accounts)",
                          len(stats)) as advance:
                assessment = assess(source, stats, policy, tunables=tunables, decided_at=end, models=models)
                advance(len(stats))
        finally:
            read.release()
        flagged_at = flag_times(assessment.decisions, earlier_flags(store), end)
        write_outputs(out_dir, assessment, flagged_at)
        run_id = save(store, kind="analyze", started_at=started, inputs=logs, assessment=assessment,
                      flagged_at=flagged_at, counts=counts)
    return AnalysisResult(run_id, counts, n_stored, assessment, flagged_at)
