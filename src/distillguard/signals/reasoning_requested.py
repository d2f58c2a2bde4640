"""The ``reasoning_requested`` signal: how strongly the API parameters ask for a reasoning trace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._text import column
from distillguard.signals.base import Batch, BatchContext, Signal

#: ``reasoning_effort`` values and the share of a full reasoning request each is.
EFFORT_LEVELS: dict[str, float] = {
    "none": 0.0,
    "minimal": 0.0,
    "low": 0.33,
    "medium": 0.66,
    "high": 1.0,
    "xhigh": 1.0,
    "max": 1.0,
}
#: Share for an effort value not listed above (something was asked for).
UNKNOWN_EFFORT = 0.5
#: A thinking budget of this many tokens or more counts as a full request.
FULL_THINKING_BUDGET = 32_000


@dataclass(frozen=True)
class ReasoningRequestedSignal(Signal):
    """How strongly the request asks for a reasoning trace through API parameters, 0..1.

    The larger of ``min(1, thinking_budget / 32000)`` (Anthropic extended
    thinking) and the ``reasoning_effort`` level (OpenAI: none/minimal 0,
    low 0.33, medium 0.66, high 1, unknown values 0.5); 0 when neither is set.
    """

    name: str = "reasoning_requested"
    dtype: pa.DataType = pa.float32()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        budget = column(batch, "thinking_budget").cast(pa.float64()).to_numpy(zero_copy_only=False)
        by_budget = np.where(np.isnan(budget), 0.0, np.clip(budget / FULL_THINKING_BUDGET, 0.0, 1.0))
        effort = pc.utf8_trim_whitespace(pc.utf8_lower(column(batch, "reasoning_effort").cast(pa.string())))
        levels = pa.array(list(EFFORT_LEVELS), type=pa.string())
        idx = pc.index_in(effort, value_set=levels).to_numpy(zero_copy_only=False)
        values = np.array(list(EFFORT_LEVELS.values()) + [UNKNOWN_EFFORT], dtype=np.float64)
        idx = np.where(np.isnan(idx.astype(np.float64)), len(EFFORT_LEVELS), idx)
        by_effort = values[idx.astype(np.int64)]
        present = pc.and_kleene(pc.is_valid(effort), pc.not_equal(effort, "")).to_numpy(zero_copy_only=False)
        present = np.asarray(present, dtype=bool) if len(effort) else np.zeros(0, dtype=bool)
        by_effort = np.where(present, by_effort, 0.0)
        return pa.array(np.maximum(by_budget, by_effort).astype(np.float32), type=self.dtype)
