"""The one explicit registry of signals, and the function that computes them all."""

from __future__ import annotations

import pyarrow as pa

from distillguard.signals._text import column
from distillguard.signals.base import Batch, BatchContext, Signal
from distillguard.signals.capability import CapabilitySignal
from distillguard.signals.cot import CotElicitationSignal
from distillguard.signals.fingerprint import (
    PromptHashSignal,
    TemplateFingerprintSignal,
    TemplateKeySignal,
)
from distillguard.signals.lang import LanguageSignal
from distillguard.signals.reasoning_requested import ReasoningRequestedSignal
from distillguard.signals.response import (
    HasToolCallsSignal,
    OutputLengthSignal,
    ReasoningShareSignal,
)
from distillguard.signals.sweep import DatasetSweepSignal

SIGNALS: dict[str, Signal] = {
    "cot_score": CotElicitationSignal(),
    "reasoning_requested": ReasoningRequestedSignal(),
    "capability": CapabilitySignal(),
    "template_fp": TemplateFingerprintSignal(),
    "template_key": TemplateKeySignal(),
    "prompt_hash": PromptHashSignal(),
    "reasoning_share": ReasoningShareSignal(),
    "output_len": OutputLengthSignal(),
    "has_tool_calls": HasToolCallsSignal(),
    "lang": LanguageSignal(),
}
"""Every per-exchange signal, by name (the name is also the output column)."""

CONFIGURED_SIGNALS: tuple[type[Signal], ...] = (DatasetSweepSignal,)
"""Signal classes built from deployment data (e.g. an index of prompt sets), so not in :data:`SIGNALS`;
pass an instance to :func:`compute_signals` through ``signals``."""

SIGNAL_SCHEMA = pa.schema(
    [pa.field("request_id", pa.string(), nullable=False)]
    + [pa.field(name, sig.dtype) for name, sig in SIGNALS.items()]
)
"""The table :func:`compute_signals` returns: ``request_id`` and one column per signal."""


#: Rows per slice in :func:`compute_signals`: keeps every temporary array small
#: (cache-friendly, and under the allocator's mmap threshold, whose fresh pages
#: are slow to fault in); about 1.5x faster than whole 50K-row batches.
CHUNK_ROWS = 4096


def compute_signals(
    batch: Batch, signals: dict[str, Signal] | None = None, chunk_rows: int = CHUNK_ROWS
) -> pa.Table:
    """Compute every registered signal over ``batch``; columns follow :data:`SIGNAL_SCHEMA`.

    ``signals`` overrides the registry (a subset, or extra signals), in which
    case the schema is built from it in the same way. The batch is processed
    in slices of ``chunk_rows`` rows; the result does not depend on it.
    """
    chosen = SIGNALS if signals is None else signals
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, not {chunk_rows}")
    fields = [pa.field("request_id", pa.string(), nullable=False)] + [
        pa.field(name, sig.dtype) for name, sig in chosen.items()
    ]
    schema = pa.schema(fields)
    n = batch.num_rows
    if n <= chunk_rows:
        return _compute(batch, chosen, schema)
    parts = [_compute(batch.slice(i, chunk_rows), chosen, schema) for i in range(0, n, chunk_rows)]
    return pa.concat_tables(parts).combine_chunks()


def _compute(batch: Batch, chosen: dict[str, Signal], schema: pa.Schema) -> pa.Table:
    n = batch.num_rows
    ctx = BatchContext(batch)
    arrays: list[pa.Array] = [column(batch, "request_id").cast(pa.string())]
    for name, sig in chosen.items():
        arr = sig(batch, ctx)
        if len(arr) != n:
            raise ValueError(f"signal {name!r} returned {len(arr)} values for {n} rows")
        if arr.type != sig.dtype:
            arr = arr.cast(sig.dtype)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)
