"""The chain-of-thought elicitation signal (model in :mod:`distillguard.signals.cot_model`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._shared import distinct_systems
from distillguard.signals._text import column
from distillguard.signals.base import Batch, BatchContext, Signal, context
from distillguard.signals.cot_train import default_cot_model


def _prompt_scores(batch: Batch, ctx: BatchContext | None) -> np.ndarray:
    """The CoT model's score of each row's prompt alone (0 for a null prompt), memoised per batch."""
    return context(batch, ctx).get("prompt.cot", lambda: default_cot_model().score(column(batch, "prompt")))


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
        score = _prompt_scores(batch, ctx)
        systems, sys_idx = distinct_systems(batch, ctx)
        if len(systems):
            score = np.maximum(score, default_cot_model().score(systems)[sys_idx])
        prompt, system = column(batch, "prompt"), column(batch, "system")
        mask = pc.is_null(prompt).to_numpy(zero_copy_only=False) & pc.is_null(system).to_numpy(
            zero_copy_only=False
        )
        return pa.array(score.astype(np.float32), type=self.dtype, mask=mask)


@dataclass(frozen=True)
class PromptCotSignal(Signal):
    """The chain-of-thought score of the task's own words: the prompt alone, without the system prompt.

    An agent framework's system prompt that asks for step-by-step thinking rides
    along on every call it makes; an ask in the prompt was written for that task.
    The same model and score as :class:`CotElicitationSignal` (computed once for
    both); null when the prompt is null.
    """

    name: str = "prompt_cot_score"
    inputs = ("prompt", "system")  # CotElicitationSignal's: computed with it, on the same rows, sharing the score
    dtype: pa.DataType = pa.float32()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        mask = pc.is_null(column(batch, "prompt")).to_numpy(zero_copy_only=False)
        return pa.array(_prompt_scores(batch, ctx).astype(np.float32), type=self.dtype, mask=mask)
