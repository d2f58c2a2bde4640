"""A SignalCache gives the values compute_signals would compute, and computes only the input combinations it
does not hold."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signals_fixtures import AWKWARD_ROWS, RowCounter, build_batch, prompts_batch

from distillguard.signals import SignalCache, compute_signals_many
from distillguard.signals.cache import _Generations

_TEXTS = st.sampled_from([None, "", " ", "Think step by step.", "think step by step.", "Solve 2+2.", "a\x00b",
                          "Ｔｈｉｎｋ 步骤", "x" * 300])
_BATCH = st.lists(st.tuples(_TEXTS, _TEXTS, _TEXTS), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_BATCH, min_size=1, max_size=3), min_size=1, max_size=5), st.integers(2, 9))
def test_cached_signals_equal_those_computed_afresh(calls: list[list[list[tuple[str | None, ...]]]],
                                                   capacity: int) -> None:
    cache = SignalCache(capacity)  # small: the generations turn over within the calls
    for call in calls:
        batches = [build_batch([{"prompt": p, "system": s, "response_text": r} for p, s, r in rows]) for rows in call]
        cached = compute_signals_many(batches, cache=cache, chunk_rows=4)
        for got, expected in zip(cached, compute_signals_many(batches, chunk_rows=4), strict=True):
            assert got.equals(expected)


def test_awkward_rows_cached_equal_those_computed_afresh() -> None:
    cache = SignalCache()
    batches = [build_batch(AWKWARD_ROWS), build_batch(AWKWARD_ROWS[::-1] * 2)]
    for batch in batches + batches:
        assert compute_signals_many([batch], cache=cache)[0].equals(compute_signals_many([batch])[0])


def test_only_combinations_not_held_are_computed() -> None:
    cache = SignalCache(capacity=8)
    counter = {"rows_seen": RowCounter()}

    def computed(prompts: list[str | None], systems: list[str | None]) -> list[int]:
        out = compute_signals_many([prompts_batch(prompts, systems)], counter, cache=cache)[0]
        return out.column("rows_seen").to_pylist()

    assert computed(["a", "b", None, "a"], ["s"] * 4) == [3] * 4
    assert computed(["b", "a", "c", None], ["s"] * 4) == [3, 3, 1, 3]  # only ("c", "s") is new
    # The newer generation held 4 = 8 // 2: it became the older, where the next calls still find its values.
    assert computed(["a", "a"], ["t", None]) == [2, 2]  # another system prompt is another combination
    assert computed(["c", "b"], ["s", "s"]) == [1, 3]  # from the older, copied to the newer: 4, turned over
    # ("a", "s"), not seen since the second call, went with that turn-over; ("b", "s") was seen in the fourth.
    assert computed(["a", "b"], ["s", "s"]) == [1, 3]


def _keys(*pairs: tuple[int, int]) -> pl.DataFrame:
    return pl.DataFrame({"h1": [h1 for h1, _ in pairs], "h2": [h2 for _, h2 in pairs]},
                        schema={"h1": pl.UInt64, "h2": pl.UInt64})


def test_a_key_whose_first_half_is_another_kept_key_is_computed_and_not_kept() -> None:
    kept = _Generations(4, pa.schema([pa.field("v", pa.string())]))
    asked: list[list[str]] = []

    def compute(rows: pa.Table) -> dict[str, pa.Array]:
        asked.append(rows.column("prompt").to_pylist())
        return {"v": pa.array([p.upper() for p in rows.column("prompt").to_pylist()])}

    def values(keys: pl.DataFrame, prompts: list[str]) -> list[str]:
        return kept.values(keys, pa.table({"prompt": prompts}), compute).column("v").to_pylist()

    assert values(_keys((1, 1), (2, 2)), ["a", "b"]) == ["A", "B"]
    assert values(_keys((1, 7), (1, 1)), ["c", "a"]) == ["C", "A"]  # (1, 7) shares h1 with (1, 1) only
    assert values(_keys((1, 7)), ["c"]) == ["C"]
    assert asked == [["a", "b"], ["c"], ["c"]]  # (1, 7) was never kept: computed each time
    assert kept.newer.size + kept.older.size == 2


def test_two_caches_draw_their_own_seeds_and_capacity_is_checked() -> None:
    batch = prompts_batch(["a", "b"])
    first, second = SignalCache(), SignalCache()
    assert first._seeds != second._seeds
    with pytest.raises(ValueError, match="capacity must be at least 2"):
        SignalCache(1)
    assert compute_signals_many([batch.slice(0, 0)], cache=first)[0].num_rows == 0
