"""The capability signal: rule order and text features."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_fixtures import build_batch

from distillguard.signals import SIGNALS

CASES: list[tuple[str, dict[str, Any]]] = [
    ("agentic", {"prompt": "Continue.", "tool_names": ["bash", "edit"], "n_tool_results": 2}),
    ("tool_use", {"prompt": "What's the weather in Oslo?", "tool_names": ["get_weather"]}),
    ("tool_use", {"prompt": "Book it.", "n_tool_calls": 1}),
    ("coding", {"prompt": "Write a Python function that returns the longest palindromic substring."}),
    ("coding", {"prompt": "Why does this fail?\n```js\nconst x = items.map(i => i.id);\n```"}),
    ("coding", {"prompt": "Implement an LRU cache class in Java with get and put in O(1)."}),
    ("coding", {"prompt": "Fix it", "response_text": "Here you go:\n```python\nprint(1)\n```"}),
    ("reasoning", {"prompt": "Find all real $x$ such that $x^2 - 5x + 6 = 0$."}),
    ("reasoning", {"prompt": "Tom has 12 apples and gives away 5. He then buys 3 times as many. How many apples does he have?"}),
    ("reasoning", {"prompt": "Let $f(n) = \\frac{n^2+1}{2}$. Compute the sum of $f(k)$ for $k = 1$ to $10$."}),
    ("reasoning", {"prompt": "求方程 x^2 - 7x + 12 = 0 的所有实数解，并计算它们的和。"}),
    ("general", {"prompt": "Write a short poem about autumn leaves."}),
    ("general", {"prompt": "What are some good restaurants in Lisbon?"}),
    ("general", {"prompt": "帮我写一封请假邮件。"}),
    ("general", {"prompt": None}),
    ("general", {"prompt": ""}),
]


@pytest.mark.parametrize(("expected", "row"), CASES)
def test_capability(expected: str, row: dict[str, Any]) -> None:
    assert SIGNALS["capability"](build_batch([row])).to_pylist() == [expected]


def test_tools_win_over_text() -> None:
    row = {"prompt": "Write a Python function to add two numbers.", "tool_names": ["run_python"]}
    assert SIGNALS["capability"](build_batch([row])).to_pylist() == ["tool_use"]


def test_a_fence_is_counted_within_its_row_only() -> None:
    """Backticks ending one prompt and opening the next make no fence: a row's capability is its own."""
    rows = [{"prompt": "Fix the loop in $x$ and `y` ``"}, {"prompt": "`x = 1` then print it; def f(): return x"}]
    together = SIGNALS["capability"](build_batch(rows)).to_pylist()
    assert together == [SIGNALS["capability"](build_batch([row])).to_pylist()[0] for row in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="`ab $x=(){}1\n", max_size=12), min_size=1, max_size=6))
def test_each_row_is_scored_as_if_alone(prompts: list[str]) -> None:
    rows = [{"prompt": p} for p in prompts]
    together = SIGNALS["capability"](build_batch(rows)).to_pylist()
    assert together == [SIGNALS["capability"](build_batch([row])).to_pylist()[0] for row in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["solve 2x+3=7", "def f(): return x", "x = [1]", "", "hi"]),
                          st.sampled_from(["```py\nx\n```", "no code", ""])), min_size=1, max_size=8))
def test_a_repeated_prompt_is_scored_with_each_rows_own_response(rows: list[tuple[str, str]]) -> None:
    """The prompt's terms are computed once per distinct prompt; the response's fence is still each row's."""
    batch = [{"prompt": p, "response_text": r} for p, r in rows]
    together = SIGNALS["capability"](build_batch(batch)).to_pylist()
    assert together == [SIGNALS["capability"](build_batch([row])).to_pylist()[0] for row in batch]


def test_one_prompt_twice_is_coding_only_where_the_response_has_a_fence() -> None:
    fenced = build_batch([{"prompt": "hi", "response_text": "```py\nx\n```"}, {"prompt": "hi", "response_text": "no"}])
    assert SIGNALS["capability"](fenced).to_pylist() == ["coding", "general"]
