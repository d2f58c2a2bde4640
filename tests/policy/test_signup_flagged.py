"""Likeness to flagged accounts: character 3-grams, and only flags raised by the time asked."""

from __future__ import annotations

import pyarrow as pa

from distillguard.policy.signup_flagged import FlaggedPatterns, trigrams


def test_trigram_similarity_orders_lookalikes() -> None:
    patterns = FlaggedPatterns([("zhangwei.dev01", 1000)])
    close = patterns.nearest("zhangwei.dev02", 2000)
    far = patterns.nearest("maria.lopez", 2000)
    assert 0.5 < close < 1.0 and far < 0.2
    assert patterns.nearest("zhangwei.dev01", 2000) == 1.0
    assert patterns.nearest("zhangwei.dev02", 999) == 0.0  # flagged only later
    assert "^zh" in trigrams("Zhang") and "ng$" in trigrams("Zhang")


def test_flagged_by_shape_and_time_from_a_table() -> None:
    patterns = FlaggedPatterns.from_table(pa.table({
        "email_local": ["zhang.wei1987", "li.na90", "maria"], "at": pa.array([1000, 3000, None], pa.int64()),
    }))
    assert len(patterns) == 3
    assert patterns.flagged_before(2000) == 2  # a flag without a time counts from the start
    assert patterns.flagged_before(5000, "a.a9") == 2 and patterns.flagged_before(2000, "a.a9") == 1
    assert patterns.flagged_before(5000, "a9") == 0
