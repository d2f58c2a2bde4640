"""Response-side signals."""

from __future__ import annotations

from typing import Any

import pytest
from signals_fixtures import build_batch

from distillguard.signals import SIGNALS


@pytest.mark.parametrize(
    ("row", "share"),
    [
        ({"output_tokens": 1000, "reasoning_tokens": 750}, 0.75),
        ({"output_tokens": 1000, "reasoning_tokens": 0, "response_reasoning": "x" * 50}, 0.0),
        ({"output_tokens": 100, "reasoning_tokens": 400}, 1.0),
        ({"response_reasoning": "r" * 300, "response_text": "t" * 100}, 0.75),
        ({"reasoning_tokens": 10, "response_reasoning": "r" * 10, "response_text": "t" * 30}, 0.25),
        ({"output_tokens": 0, "reasoning_tokens": 0, "response_text": "tt", "response_reasoning": "rr"}, 0.5),
        ({"response_text": "just text"}, 0.0),
        ({}, 0.0),
        ({"response_text": "", "response_reasoning": ""}, 0.0),
    ],
)
def test_reasoning_share(row: dict[str, Any], share: float) -> None:
    out = SIGNALS["reasoning_share"](build_batch([row])).to_pylist()[0]
    assert out == pytest.approx(share)


@pytest.mark.parametrize(
    ("row", "length"),
    [
        ({"output_tokens": 512, "response_text": "x" * 10}, 512),
        ({"response_text": "x" * 10, "response_reasoning": "y" * 6}, 4),
        ({"response_text": "日本語"}, 1),
        ({}, 0),
        ({"output_tokens": 2**40}, 2**31 - 1),
    ],
)
def test_output_len(row: dict[str, Any], length: int) -> None:
    assert SIGNALS["output_len"](build_batch([row])).to_pylist() == [length]


@pytest.mark.parametrize(("calls", "expected"), [(0, False), (1, True), (7, True)])
def test_has_tool_calls(calls: int, expected: bool) -> None:
    assert SIGNALS["has_tool_calls"](build_batch([{"n_tool_calls": calls}])).to_pylist() == [expected]
