"""OpenAI Responses: instructions, input items, output items."""

from __future__ import annotations

import pytest

from distillguard.core.errors import RecordError
from distillguard.ingest import openai_responses
from distillguard.ingest.fields import ParsedResponse


def test_instructions_and_string_input() -> None:
    assert openai_responses.instructions({"instructions": "Be kind."}) == ["Be kind."]
    assert openai_responses.instructions({"instructions": None}) == []
    assert openai_responses.input_messages("hi") == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("item_type", "tool_results"),
    [("function_call_output", 1), ("tool_result", 1), ("web_search_call_output", 1), ("function_call", 0), ("reasoning", 0)],
)
def test_roleless_items_that_are_tool_results(item_type: str, tool_results: int) -> None:
    assert openai_responses.count_item_tool_results({"type": item_type}) == tool_results


def test_roleless_item_without_a_type_is_an_unknown_request() -> None:
    with pytest.raises(RecordError, match="^request: unknown request shape$"):
        openai_responses.count_item_tool_results({"call_id": "c"})


def test_output_items_and_incomplete_reason() -> None:
    output = [
        {"type": "message", "content": [{"type": "output_text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
        {"type": "reasoning", "summary": [{"text": "s"}], "content": [{"text": "t"}]},
        {"type": "web_search_call"},
    ]
    resp = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    assert openai_responses.parse_response(output, resp) == ParsedResponse(
        text="a\nno", reasoning="s\nt", n_tool_calls=1, stop_reason="max_output_tokens"
    )
