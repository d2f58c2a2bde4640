"""read_conversation: the conversation in chat-style messages, whatever the API format."""

from __future__ import annotations

from typing import Any

import pytest

from distillguard.core.errors import RecordError
from distillguard.ingest.messages import Conversation, read_conversation


def test_counts_turns_tool_results_and_system_texts() -> None:
    messages = [
        {"role": "system", "content": "Sys."},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "tool", "content": "r"},
        {"role": "user", "content": [{"type": "tool_result", "content": "r"}]},
        {"role": "developer", "content": [{"type": "text", "text": "Dev."}]},
        {"role": "user", "content": [{"type": "text", "text": "q2"}, {"type": "image"}]},
    ]
    assert read_conversation(messages) == Conversation(
        prompt="q2", system_parts=["Sys.", "Dev."], n_user_turns=2, n_tool_results=2
    )


def test_no_user_message_has_no_prompt() -> None:
    assert read_conversation([{"role": "assistant", "content": "a"}]).prompt is None
    assert read_conversation([{"role": "user", "content": None}]).prompt == ""


def test_roleless_items_are_counted_by_the_format() -> None:
    items = [{"type": "a"}, {"type": "b"}]
    assert read_conversation(items, lambda item: 1 if item["type"] == "b" else 0).n_tool_results == 1


@pytest.mark.parametrize(
    "messages",
    [["hi"], [{"content": "no role"}], [{"role": "robot"}], [{"role": "user", "content": 5}]],
)
def test_unknown_messages_are_an_unknown_request(messages: list[Any]) -> None:
    with pytest.raises(RecordError) as info:
        read_conversation(messages)
    assert (info.value.field, info.value.reason) == ("request", "unknown request shape")
