"""Evaluation: metrics of the predictions against ground truth, baselines, and the report.

``run_eval`` is the entry point of ``distillguard eval``; ``score`` computes
the metrics of a predictions directory alone.
"""

from distillguard.eval.baselines import BaselineConfig, run_baselines
from distillguard.eval.inputs import (
    DetectorOutput,
    EvalInputError,
    ExchangeLog,
    Labels,
    exchange_log_from_tables,
    read_exchange_log,
    read_labels,
    read_predictions,
)
from distillguard.eval.metrics import score, score_detector
from distillguard.eval.report import evaluate, run_eval
from distillguard.eval.results import DetectorMetrics, EvalReport

__all__ = [
    "BaselineConfig",
    "DetectorMetrics",
    "DetectorOutput",
    "EvalInputError",
    "EvalReport",
    "ExchangeLog",
    "Labels",
    "evaluate",
    "exchange_log_from_tables",
    "read_exchange_log",
    "read_labels",
    "read_predictions",
    "run_baselines",
    "run_eval",
    "score",
    "score_detector",
]
