"""Per-exchange signals: pure functions from an exchange batch to one column.

Each signal is a small frozen class (``name``, ``dtype``, ``__call__(batch)``)
registered in :data:`SIGNALS`; :func:`compute_signals` runs them all and
returns a table of :data:`SIGNAL_SCHEMA`. Signals keep no state between calls
and do no I/O at import, so they run unchanged under Spark ``mapInArrow``; the
chain-of-thought model is trained at first use and cached per process.
"""

from distillguard.signals.base import Signal
from distillguard.signals.cache import SignalCache
from distillguard.signals.fingerprint import hamming64, skeleton
from distillguard.signals.registry import SIGNAL_SCHEMA, SIGNALS, compute_signals, compute_signals_many
from distillguard.signals.sweep import DatasetSweepSignal, PromptSetIndex

__all__ = [
    "SIGNALS", "SIGNAL_SCHEMA", "DatasetSweepSignal", "PromptSetIndex", "Signal", "SignalCache", "compute_signals",
    "compute_signals_many", "hamming64", "skeleton",
]
