"""compute_signals computes the signals that declare their inputs once per distinct combination of them:
the values equal each signal's on every row."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signals_fixtures import AWKWARD_ROWS, RowCounter, build_batch, prompts_batch

from distillguard.signals import SIGNALS, Signal, compute_signals, compute_signals_many
from distillguard.signals._text import column
from distillguard.signals.base import Batch, BatchContext

_TEXTS = st.sampled_from([
    None, "", " ", "Think step by step.", "think step by step.", "Solve 2+2. Show your work.", "Ｔｈｉｎｋ 步骤",
    "```py\nprint(1)\n```", "\u0130stanbul \u00df", "Réfléchis étape par étape et donne la réponse finale.",
    "a\x00b", "\U0001F600 emoji", "x" * 300,
])


def _reference(batch: pa.Table) -> dict[str, list[object]]:
    """Each registered signal on every row of the batch (nothing shared, nothing deduplicated)."""
    return {name: sig(batch).to_pylist() for name, sig in SIGNALS.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_TEXTS, _TEXTS, _TEXTS), min_size=1, max_size=40), st.integers(1, 7))
def test_signals_on_distinct_inputs_equal_those_on_every_row(rows: list[tuple[str | None, ...]],
                                                            chunk_rows: int) -> None:
    batch = build_batch([{"prompt": p, "system": s, "response_text": r} for p, s, r in rows])
    out = compute_signals(batch, chunk_rows=chunk_rows)
    expected = _reference(batch)
    for name in SIGNALS:
        assert out.column(name).to_pylist() == expected[name], name


def test_awkward_rows_repeated_give_the_values_of_every_row() -> None:
    batch = build_batch(AWKWARD_ROWS * 5)
    out = compute_signals(batch)
    expected = _reference(batch)
    for name in SIGNALS:
        assert out.column(name).to_pylist() == expected[name], name


def test_repeated_inputs_are_computed_once_and_distinct_ones_on_every_row() -> None:
    prompts = ["a", "b", None, "a", "b", None] * 10
    systems = ["s", "s", "s", "s", "t", "s"] * 10  # ("b", "s") and ("b", "t") differ
    seen = compute_signals(prompts_batch(prompts, systems), {"rows_seen": RowCounter()})
    assert seen.column("rows_seen").to_pylist() == [4] * 60
    distinct = compute_signals(prompts_batch([f"p{i}" for i in range(60)]), {"rows_seen": RowCounter()})
    assert distinct.column("rows_seen").to_pylist() == [60] * 60


@dataclass(frozen=True)
class _Undeclared(Signal):
    """Reads a column it does not declare."""

    name: str = "undeclared"
    dtype: pa.DataType = pa.int64()
    inputs = ("prompt",)

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        return pc.utf8_length(column(batch, "response_text"))


@pytest.mark.parametrize("prompts", [["a"] * 8, [f"p{i}" for i in range(8)]])
def test_a_signal_sees_only_the_columns_it_declares(prompts: list[str]) -> None:
    with pytest.raises(ValueError, match="no column 'response_text'"):
        compute_signals(prompts_batch(prompts), {"undeclared": _Undeclared()})


def test_signals_of_many_batches_equal_those_of_each_batch() -> None:
    first = build_batch(AWKWARD_ROWS * 3)
    second = build_batch(AWKWARD_ROWS[::-1])
    empty = first.slice(0, 0)
    many = compute_signals_many([first, empty, second], chunk_rows=5)
    assert [t.num_rows for t in many] == [first.num_rows, 0, second.num_rows]
    for got, batch in zip(many, [first, empty, second], strict=True):
        assert got.equals(compute_signals(batch))
    assert compute_signals_many([]) == []
