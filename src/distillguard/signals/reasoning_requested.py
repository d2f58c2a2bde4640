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
#: A thinking budget of this many tokens counts as a low request (the smallest budget the API accepts) ...
LOW_THINKING_BUDGET = 1024
#: ... and of this many or more as a full one; in between the grade is linear in log2 of the budget.
HIGH_THINKING_BUDGET = 8192


@dataclass(frozen=True)
class ReasoningRequestedSignal(Signal):
    """How strongly the request asks for a reasoning trace through API parameters, 0..1.

    The larger of the thinking budget's grade (Anthropic extended thinking:
    1,024 tokens is low, 1/3, and 8,192 or more full, 1, linear in log2 of the
    budget between and below; see :func:`budget_grade`) and the
    ``reasoning_effort`` level (OpenAI: none/minimal 0, low 0.33, medium 0.66,
    high 1, unknown values 0.5); 0 when neither is set. The exchange schema
    keeps no ``max_tokens``, so a budget is graded on its size alone, not on
    the share of the output allowance it takes.
    """

    name: str = "reasoning_requested"
    dtype: pa.DataType = pa.float32()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        budget = column(batch, "thinking_budget").cast(pa.float64()).to_numpy(zero_copy_only=False)
        by_budget = budget_grade(budget)
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


def budget_grade(budget: np.ndarray) -> np.ndarray:
    """How much reasoning a thinking budget asks for, 0..1, on a log scale; 0 for none (NaN) or a budget <= 0.

    Effort levels in tokens: :data:`LOW_THINKING_BUDGET` grades 1/3 (as effort ``low``), every doubling
    adds 2/9, so 4,096 is 0.78 and :data:`HIGH_THINKING_BUDGET` or more is 1.
    """
    doublings = np.log2(np.maximum(np.nan_to_num(budget, nan=0.0), 1.0) / LOW_THINKING_BUDGET)
    full = np.log2(HIGH_THINKING_BUDGET / LOW_THINKING_BUDGET)
    grade = np.clip(1.0 / 3.0 + (2.0 / 3.0) * doublings / full, 0.0, 1.0)
    return np.where(np.nan_to_num(budget, nan=0.0) > 0, grade, 0.0)
