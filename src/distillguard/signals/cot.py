"""The chain-of-thought elicitation signal (model in :mod:`distillguard.signals.cot_model`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._shared import distinct_systems
from distillguard.signals._text import column
from distillguard.signals.base import Batch, BatchContext, Signal
from distillguard.signals.cot_train import default_cot_model


@dataclass(frozen=True)
class CotElicitationSignal(Signal):
    """Probability (0..1) that ``system`` or ``prompt`` elicits a reasoning trace.

    Direct requests ("think step by step", "show all your reasoning"), system
    prompts demanding long structured thinking, reasoning-dataset answer
    formats (``\\boxed{}``, "the final answer is ...") and requests to
    reconstruct the reasoning behind a given answer, in en, zh, ru, es, de, fr,
    ja, ko. A character n-gram model scored on windows of the first and last
    characters (:class:`~distillguard.signals.cot_model.CotModel`); each
    distinct system prompt of the batch is scored once; the signal is the
    larger of the two scores; null when both texts are null.
    """

    name: str = "cot_score"
    inputs = ("prompt", "system")
    dtype: pa.DataType = pa.float32()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        model = default_cot_model()
        score = model.score(column(batch, "prompt"))
        systems, sys_idx = distinct_systems(batch, ctx)
        if len(systems):
            score = np.maximum(score, model.score(systems)[sys_idx])
        prompt, system = column(batch, "prompt"), column(batch, "system")
        mask = pc.is_null(prompt).to_numpy(zero_copy_only=False) & pc.is_null(system).to_numpy(
            zero_copy_only=False
        )
        return pa.array(score.astype(np.float32), type=self.dtype, mask=mask)
