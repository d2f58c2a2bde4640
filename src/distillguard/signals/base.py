"""The signal protocol: a named, typed, pure function from an exchange batch to one column."""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, TypeVar

import pyarrow as pa

Batch = pa.Table | pa.RecordBatch
T = TypeVar("T")


class BatchContext:
    """Intermediate results that several signals share while computing one batch.

    :func:`~distillguard.signals.registry.compute_signals` makes one per batch
    and passes it to every signal, so that, e.g., the prompt skeleton is built
    once for both template signals. It lives for one call only; a signal
    called on its own gets a fresh one.
    """

    __slots__ = ("_memo", "batch")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self._memo: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """Return the value stored under ``key``, building it on first use."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]


class Signal(abc.ABC):
    """Base of every per-exchange signal.

    A signal maps a batch of :data:`distillguard.core.schema.EXCHANGE_SCHEMA`
    (a ``pa.Table`` or, under Spark ``mapInArrow``, a ``pa.RecordBatch``) to one
    Arrow array of the batch's length and of type :attr:`dtype`. It reads only
    the columns it needs, keeps no state between calls and does no I/O; a model
    it needs is built lazily and cached per process.
    """

    name: str
    dtype: pa.DataType
    inputs: ClassVar[tuple[str, ...] | None] = None
    """The columns whose values alone give the signal's value for a row, declared by the text-heavy signals:
    :func:`~distillguard.signals.registry.compute_signals` then computes it once per distinct combination
    of them in the batch, on a table of those columns only. None: computed on every row of the batch."""

    @abc.abstractmethod
    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        """Compute the signal for every row of ``batch`` (``ctx``: shared intermediates)."""


def context(batch: Batch, ctx: BatchContext | None) -> BatchContext:
    """``ctx`` if it belongs to ``batch``, else a fresh context."""
    if ctx is None or ctx.batch is not batch:
        return BatchContext(batch)
    return ctx
