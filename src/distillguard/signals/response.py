"""Response-side signals: how much of the output is reasoning, how long it is, tool calls."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._text import column, text_column
from distillguard.signals.base import Batch, BatchContext, Signal

_INT32_MAX = 2**31 - 1


def _int_or_null(batch: Batch, name: str) -> np.ndarray:
    """An integer column as float64 with NaN for nulls."""
    col = column(batch, name).cast(pa.float64())
    return col.to_numpy(zero_copy_only=False)


def _chars(batch: Batch, name: str) -> np.ndarray:
    return pc.utf8_length(text_column(batch, name)).to_numpy(zero_copy_only=False).astype(np.float64)


@dataclass(frozen=True)
class ReasoningShareSignal(Signal):
    """Share of the output spent on reasoning, 0..1.

    ``reasoning_tokens / output_tokens`` when both are known (OpenAI counts
    reasoning inside output tokens), else reasoning characters over reasoning
    plus text characters; 0 when there is neither.
    """

    name: str = "reasoning_share"
    dtype: pa.DataType = pa.float32()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        out_tok = _int_or_null(batch, "output_tokens")
        rea_tok = _int_or_null(batch, "reasoning_tokens")
        rea_chars = _chars(batch, "response_reasoning")
        txt_chars = _chars(batch, "response_text")
        total_chars = rea_chars + txt_chars
        with np.errstate(divide="ignore", invalid="ignore"):
            by_tokens = np.clip(rea_tok / out_tok, 0.0, 1.0)
            by_chars = np.where(total_chars > 0, rea_chars / total_chars, 0.0)
        use_tokens = np.isfinite(by_tokens) & (out_tok > 0)
        share = np.where(use_tokens, by_tokens, by_chars)
        return pa.array(share.astype(np.float32), type=self.dtype)


@dataclass(frozen=True)
class OutputLengthSignal(Signal):
    """Output length in tokens: ``output_tokens``, else (text + reasoning chars) / 4, rounded up."""

    name: str = "output_len"
    dtype: pa.DataType = pa.int32()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        out_tok = _int_or_null(batch, "output_tokens")
        chars = _chars(batch, "response_text") + _chars(batch, "response_reasoning")
        est = np.where(np.isnan(out_tok), np.ceil(chars / 4.0), out_tok)
        est = np.clip(est, 0, _INT32_MAX)
        return pa.array(est.astype(np.int32), type=self.dtype)


@dataclass(frozen=True)
class HasToolCallsSignal(Signal):
    """Whether the response called at least one tool (``n_tool_calls > 0``)."""

    name: str = "has_tool_calls"
    dtype: pa.DataType = pa.bool_()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        n = pc.fill_null(column(batch, "n_tool_calls"), 0)
        return pc.greater(n, 0)
