"""The analysis as a library: ingest → signals → account statistics → assessment → outputs and store, and replay.

The CLI, the benches, the evaluation and the console call it; every SQL string it needs lives in the store.
"""

from distillguard.analysis.assess import Assessment, account_context, assess, flag_times
from distillguard.analysis.indicators import describe_indicators, load_indicators, shared_indicators
from distillguard.analysis.ingest import IngestCounts, ingest
from distillguard.analysis.replay import Replay, ReplayStep, replay
from distillguard.analysis.run import AnalysisResult, ProgressFactory, analyze, replay_logs
from distillguard.analysis.stats import build_stats, stored_batches
from distillguard.analysis.timings import Phase, Timings

__all__ = [
    "AnalysisResult", "Assessment", "IngestCounts", "Phase", "ProgressFactory", "Replay", "ReplayStep", "Timings",
    "account_context", "analyze", "assess", "build_stats", "describe_indicators", "flag_times", "ingest",
    "load_indicators", "replay", "replay_logs", "shared_indicators", "stored_batches",
]
