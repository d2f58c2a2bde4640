"""The reasoning trace asked for through API parameters."""

from __future__ import annotations

from typing import Any

import pytest
from signals_fixtures import build_batch

from distillguard.accounts.stats import ELICITATION_THRESHOLD
from distillguard.signals import SIGNALS


@pytest.mark.parametrize(
    ("row", "value"),
    [
        ({}, 0.0),
        ({"thinking_budget": 32000}, 1.0),
        ({"thinking_budget": 64000}, 1.0),
        ({"thinking_budget": 8192}, 1.0),
        ({"thinking_budget": 1024}, 1 / 3),
        ({"thinking_budget": 2048}, 5 / 9),
        ({"thinking_budget": 4096}, 7 / 9),
        ({"thinking_budget": 512}, 1 / 9),
        ({"thinking_budget": 1}, 0.0),
        ({"thinking_budget": 0}, 0.0),
        ({"thinking_budget": -5}, 0.0),
        ({"reasoning_effort": "low"}, 0.33),
        ({"reasoning_effort": "medium"}, 0.66),
        ({"reasoning_effort": " HIGH "}, 1.0),
        ({"reasoning_effort": "minimal"}, 0.0),
        ({"reasoning_effort": "none"}, 0.0),
        ({"reasoning_effort": "turbo"}, 0.5),
        ({"reasoning_effort": ""}, 0.0),
        ({"reasoning_effort": "high", "thinking_budget": 2048}, 1.0),
        ({"reasoning_effort": "low", "thinking_budget": 2048}, 5 / 9),
    ],
)
def test_reasoning_requested(row: dict[str, Any], value: float) -> None:
    out = SIGNALS["reasoning_requested"](build_batch([row])).to_pylist()[0]
    assert out == pytest.approx(value, abs=1e-6)


def test_an_8000_token_budget_is_elicitation() -> None:
    """Last session an 8,000-token budget graded 0.25, under the 0.5 cut: budget-only elicitation went unseen."""
    out = SIGNALS["reasoning_requested"](build_batch([{"thinking_budget": 8000}, {"thinking_budget": 4000}]))
    assert all(value >= ELICITATION_THRESHOLD for value in out.to_pylist())


def test_grade_rises_with_the_budget() -> None:
    budgets = [1024, 1500, 2048, 3000, 4096, 6000, 8192]
    out = SIGNALS["reasoning_requested"](build_batch([{"thinking_budget": b} for b in budgets])).to_pylist()
    assert out == sorted(out) and len(set(out)) == len(out)
