"""OpenAI Chat Completions: reasoning effort and the first choice of a response."""

from __future__ import annotations

import pytest

from distillguard.core.errors import RecordError
from distillguard.ingest import openai_chat
from distillguard.ingest.fields import ParsedResponse


def test_reasoning_effort_in_either_openai_shape() -> None:
    assert openai_chat.reasoning_effort({"reasoning_effort": "high"}) == "high"
    assert openai_chat.reasoning_effort({"reasoning": {"effort": "low"}}) == "low"
    assert openai_chat.reasoning_effort({}) is None
    with pytest.raises(RecordError, match="^request.reasoning_effort: expected string, got int$"):
        openai_chat.reasoning_effort({"reasoning": {"effort": 3}})


def test_a_stream_folded_into_one_record_reads_its_delta() -> None:
    choices = [{"delta": {"content": "hi", "reasoning": "r", "function_call": {"name": "f"}}, "finish_reason": "stop"}]
    assert openai_chat.parse_response(choices) == ParsedResponse(text="hi", reasoning="r", n_tool_calls=1, stop_reason="stop")


def test_no_choices_or_no_message() -> None:
    assert openai_chat.parse_response([]) == ParsedResponse(text=None, reasoning=None, n_tool_calls=0, stop_reason=None)
    assert openai_chat.parse_response([{"finish_reason": "length"}]).stop_reason == "length"
