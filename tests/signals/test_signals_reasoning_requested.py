"""The reasoning trace asked for through API parameters."""

from __future__ import annotations

from typing import Any

import pytest
from signals_fixtures import build_batch

from distillguard.signals import SIGNALS


@pytest.mark.parametrize(
    ("row", "value"),
    [
        ({}, 0.0),
        ({"thinking_budget": 32000}, 1.0),
        ({"thinking_budget": 64000}, 1.0),
        ({"thinking_budget": 8000}, 0.25),
        ({"thinking_budget": 0}, 0.0),
        ({"reasoning_effort": "low"}, 0.33),
        ({"reasoning_effort": "medium"}, 0.66),
        ({"reasoning_effort": " HIGH "}, 1.0),
        ({"reasoning_effort": "minimal"}, 0.0),
        ({"reasoning_effort": "none"}, 0.0),
        ({"reasoning_effort": "turbo"}, 0.5),
        ({"reasoning_effort": ""}, 0.0),
        ({"reasoning_effort": "low", "thinking_budget": 16000}, 0.5),
    ],
)
def test_reasoning_requested(row: dict[str, Any], value: float) -> None:
    out = SIGNALS["reasoning_requested"](build_batch([row])).to_pylist()[0]
    assert out == pytest.approx(value, abs=1e-6)
