"""The flat response form {text, reasoning, tool_calls, stop_reason}."""

from __future__ import annotations

import pytest

from distillguard.core.errors import RecordError
from distillguard.ingest import flat_response
from distillguard.ingest.fields import ParsedResponse


def test_recognised_by_any_of_its_fields() -> None:
    assert flat_response.is_flat({"stop_reason": None})
    assert flat_response.is_flat({"tool_calls": None})
    assert not flat_response.is_flat({"text": None, "foo": 1})


def test_tool_calls_as_a_list_or_a_count() -> None:
    assert flat_response.parse_response({"text": "t", "tool_calls": [{}, {}]}).n_tool_calls == 2
    assert flat_response.parse_response({"tool_calls": 3.0, "stop_reason": "end"}) == ParsedResponse(
        text=None, reasoning=None, n_tool_calls=3, stop_reason="end"
    )


def test_text_of_the_wrong_type() -> None:
    with pytest.raises(RecordError, match="^response.text: expected string, got list$"):
        flat_response.parse_response({"text": ["t"]})
