"""Intermediates that several signals derive from the same columns, memoised per batch."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from distillguard.signals._text import as_text, column, unique_index
from distillguard.signals.base import Batch, BatchContext, context


def distinct_systems(batch: Batch, ctx: BatchContext | None) -> tuple[pa.StringArray, np.ndarray]:
    """The distinct system prompts (nulls as empty) and each row's index into them."""
    return context(batch, ctx).get("system.unique", lambda: unique_index(as_text(column(batch, "system"))))
