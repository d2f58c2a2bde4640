"""Anthropic Messages: the request's system prompt and thinking budget, and the response."""

from __future__ import annotations

from typing import Any

from distillguard.core.errors import RecordError
from distillguard.ingest.fields import (
    INT32_MAX,
    UNKNOWN_RESPONSE,
    ParsedResponse,
    join_lines,
    optional_int,
    text_of,
    wrong_type,
)

__all__ = ["BLOCK_TYPES", "REQUEST_KEYS", "parse_response", "system_texts", "thinking_budget"]

#: Top-level request keys only Anthropic Messages has.
REQUEST_KEYS = ("system", "thinking", "stop_sequences", "top_k", "anthropic_version")

#: Message content block types only Anthropic Messages has.
BLOCK_TYPES = frozenset(
    {
        "tool_use",
        "tool_result",
        "image",
        "document",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "search_result",
    }
)


def system_texts(req: dict[str, Any]) -> list[str]:
    """The top-level ``system`` prompt: none, a string, or a list of text blocks."""
    system = req.get("system")
    if system is None:
        return []
    if type(system) is str:
        return [system]
    if type(system) is list:
        return [text_of(system)]
    raise wrong_type("string or list of text blocks", system, "request.system")


def thinking_budget(req: dict[str, Any]) -> int | None:
    """``thinking.budget_tokens``, if extended thinking is configured."""
    thinking = req.get("thinking")
    if type(thinking) is dict:
        return optional_int(thinking.get("budget_tokens"), "request.thinking.budget_tokens", INT32_MAX)
    return None


def parse_response(content: list[Any], resp: dict[str, Any]) -> ParsedResponse:
    """A response from its ``content`` blocks; reasoning is ``""`` when all of it was redacted."""
    texts: list[str] = []
    thoughts: list[str] = []
    redacted = False
    n_calls = 0
    for b in content:
        if type(b) is not dict:
            raise RecordError(UNKNOWN_RESPONSE, "response")
        bt = b.get("type")
        if bt == "text":
            t = b.get("text")
            if type(t) is str:
                texts.append(t)
        elif bt == "thinking":
            t = b.get("thinking")
            if type(t) is str:
                thoughts.append(t)
        elif bt == "redacted_thinking":
            redacted = True
        elif bt == "tool_use" or bt == "server_tool_use":
            n_calls += 1
    reasoning = join_lines(thoughts)
    if reasoning is None and redacted:
        reasoning = ""  # reasoning happened but its text is not visible
    return ParsedResponse(
        text=join_lines(texts), reasoning=reasoning, n_tool_calls=n_calls, stop_reason=resp.get("stop_reason")
    )
