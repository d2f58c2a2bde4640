"""The one explicit registry of signals, and the function that computes them all."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._text import column
from distillguard.signals.base import Batch, BatchContext, Signal
from distillguard.signals.cache import SignalCache
from distillguard.signals.capability import CapabilitySignal
from distillguard.signals.cot import CotElicitationSignal, PromptCotSignal
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
    "prompt_cot_score": PromptCotSignal(),
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
#: A group of signals is computed on the distinct combinations of its inputs when they are at most this share
#: of the rows (prompts repeat: about 60 % of the rows of a 20,000-row batch of ``large`` are distinct);
#: else on every row, as taking the values back would cost more than it saves.
DISTINCT_MAX_SHARE = 0.85


def compute_signals(
    batch: Batch, signals: dict[str, Signal] | None = None, chunk_rows: int = CHUNK_ROWS
) -> pa.Table:
    """Compute every registered signal over ``batch``; columns follow :data:`SIGNAL_SCHEMA`.

    ``signals`` overrides the registry (a subset, or extra signals), in which
    case the schema is built from it in the same way. Signals that declare the
    same :attr:`~distillguard.signals.base.Signal.inputs` are computed together
    once per distinct combination of those columns (when enough rows repeat
    one); the others on every row. Either way the rows are processed in slices
    of ``chunk_rows`` rows; the result depends on neither.
    """
    return compute_signals_many([batch], signals, chunk_rows)[0]


def compute_signals_many(
    batches: Sequence[Batch], signals: dict[str, Signal] | None = None, chunk_rows: int = CHUNK_ROWS,
    cache: SignalCache | None = None,
) -> list[pa.Table]:
    """:func:`compute_signals` of each of ``batches``, the signals that declare their inputs computed once per
    distinct combination of them over all the batches (prompts repeat across batches too), and with a ``cache``
    only for the combinations it does not hold from earlier calls (the same values)."""
    chosen = SIGNALS if signals is None else signals
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, not {chunk_rows}")
    if not batches:
        return []
    fields = [pa.field("request_id", pa.string(), nullable=False)] + [
        pa.field(name, sig.dtype) for name, sig in chosen.items()
    ]
    groups: dict[tuple[str, ...] | None, dict[str, Signal]] = {}
    for name, sig in chosen.items():
        groups.setdefault(sig.inputs, {})[name] = sig
    sizes = [b.num_rows for b in batches]
    bounds = np.cumsum([0, *sizes])
    values: list[dict[str, pa.Array]] = [{} for _ in batches]
    for inputs, group in groups.items():
        if inputs is None:
            for k, batch in enumerate(batches):
                values[k].update(_sliced(batch, group, chunk_rows))
            continue
        cols = [column(batches[0], name) if len(batches) == 1 else
                pa.concat_arrays([column(b, name) for b in batches]) for name in inputs]
        rows, back = _distinct_rows(cols, inputs)
        computed = (_sliced(rows, group, chunk_rows) if cache is None else
                    cache.values(rows, group, partial(_sliced, group=group, chunk_rows=chunk_rows)))
        for name, arr in computed.items():
            if back is None and len(batches) == 1:
                values[0][name] = arr
                continue
            for k in range(len(batches)):  # taken, not sliced: a slice would carry (and pickle) the whole buffers
                at = np.arange(bounds[k], bounds[k + 1]) if back is None else back[bounds[k]:bounds[k + 1]]
                values[k][name] = arr.take(pa.array(at))
    schema = pa.schema(fields)
    return [
        pa.Table.from_arrays([column(batch, "request_id").cast(pa.string())] + [values[k][name] for name in chosen],
                             schema=schema)
        for k, batch in enumerate(batches)
    ]


def _distinct_rows(cols: list[pa.Array], inputs: tuple[str, ...]) -> tuple[pa.Table, np.ndarray | None]:
    """A table of the columns ``inputs`` (``cols``) with each distinct combination of their values once (in order
    of first occurrence) and the row of it for each row; or all rows and None when few rows repeat one."""
    n = len(cols[0])
    key = np.zeros(n, dtype=np.int64)
    for col in cols:  # each column's dictionary codes (null one of them), folded into one code below n
        enc = pc.dictionary_encode(col, null_encoding="encode")
        key = key * len(enc.dictionary) + enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if len(cols) > 1:
            key = np.unique(key, return_inverse=True)[1].reshape(-1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    if len(first) > DISTINCT_MAX_SHARE * n:
        return pa.Table.from_arrays(cols, names=list(inputs)), None
    order = np.argsort(first)  # distinct rows in order of first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    take = pa.array(first[order])
    return pa.Table.from_arrays([col.take(take) for col in cols], names=list(inputs)), rank[inverse.reshape(-1)]


def _sliced(rows: Batch, group: dict[str, Signal], chunk_rows: int) -> dict[str, pa.Array]:
    """The values of each signal of ``group`` over ``rows``, computed in slices of ``chunk_rows``."""
    n = rows.num_rows
    if n <= chunk_rows:
        return _compute(rows, group)
    parts = [_compute(rows.slice(i, chunk_rows), group) for i in range(0, n, chunk_rows)]
    return {name: pa.concat_arrays([part[name] for part in parts]) for name in group}


def _compute(batch: Batch, group: dict[str, Signal]) -> dict[str, pa.Array]:
    n = batch.num_rows
    ctx = BatchContext(batch)
    out: dict[str, pa.Array] = {}
    for name, sig in group.items():
        arr = sig(batch, ctx)
        if len(arr) != n:
            raise ValueError(f"signal {name!r} returned {len(arr)} values for {n} rows")
        if arr.type != sig.dtype:
            arr = arr.cast(sig.dtype)
        out[name] = arr
    return out
