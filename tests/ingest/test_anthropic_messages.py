"""Anthropic Messages: system prompt, thinking budget, response content blocks."""

from __future__ import annotations

import pytest

from distillguard.core.errors import RecordError
from distillguard.ingest import anthropic_messages
from distillguard.ingest.fields import ParsedResponse


def test_system_texts() -> None:
    assert anthropic_messages.system_texts({}) == []
    assert anthropic_messages.system_texts({"system": "S"}) == ["S"]
    blocks = [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    assert anthropic_messages.system_texts({"system": blocks}) == ["A\nB"]
    with pytest.raises(RecordError, match="^request.system: expected string or list of text blocks, got int$"):
        anthropic_messages.system_texts({"system": 1})


def test_thinking_budget() -> None:
    assert anthropic_messages.thinking_budget({"thinking": {"type": "enabled", "budget_tokens": 2048}}) == 2048
    assert anthropic_messages.thinking_budget({"thinking": {"type": "disabled"}}) is None
    assert anthropic_messages.thinking_budget({}) is None


def test_response_with_only_redacted_thinking_keeps_that_reasoning_happened() -> None:
    content = [{"type": "redacted_thinking", "data": "x"}, {"type": "server_tool_use"}, {"type": "text", "text": "ok"}]
    parsed = anthropic_messages.parse_response(content, {"stop_reason": "end_turn"})
    assert parsed == ParsedResponse(text="ok", reasoning="", n_tool_calls=1, stop_reason="end_turn")
