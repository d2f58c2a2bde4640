"""OpenAI Chat Completions: the request's reasoning effort, and the response."""

from __future__ import annotations

from typing import Any

from distillguard.core.errors import RecordError
from distillguard.ingest.fields import UNKNOWN_RESPONSE, ParsedResponse, text_of, wrong_type

__all__ = ["ONLY_ROLES", "PART_TYPES", "REQUEST_KEYS", "parse_response", "reasoning_effort"]

#: Top-level request keys only OpenAI Chat Completions has.
REQUEST_KEYS = (
    "reasoning_effort",
    "max_completion_tokens",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "n",
    "seed",
)

#: Message content part types only OpenAI Chat Completions has.
PART_TYPES = frozenset({"image_url", "input_audio", "file", "refusal"})

#: Message roles only OpenAI Chat Completions has.
ONLY_ROLES = frozenset({"system", "developer", "tool", "function"})


def reasoning_effort(req: dict[str, Any]) -> str | None:
    """``reasoning_effort``, or ``reasoning.effort`` as OpenAI Responses puts it (read in both formats)."""
    effort = req.get("reasoning_effort")
    if effort is None:
        reasoning = req.get("reasoning")
        if type(reasoning) is dict:
            effort = reasoning.get("effort")
    if effort is not None and type(effort) is not str:
        raise wrong_type("string", effort, "request.reasoning_effort")
    return effort


def parse_response(choices: Any) -> ParsedResponse:
    """A response from its first choice's ``message`` (or ``delta``, a stream folded into one record)."""
    if type(choices) is not list:
        raise RecordError(UNKNOWN_RESPONSE, "response")
    if not choices:
        return ParsedResponse(text=None, reasoning=None, n_tool_calls=0, stop_reason=None)
    c0 = choices[0]
    if type(c0) is not dict:
        raise RecordError(UNKNOWN_RESPONSE, "response")
    msg = c0.get("message")
    if msg is None:
        msg = c0.get("delta")
    if type(msg) is not dict:
        if msg is None:
            return ParsedResponse(text=None, reasoning=None, n_tool_calls=0, stop_reason=c0.get("finish_reason"))
        raise RecordError(UNKNOWN_RESPONSE, "response")
    content = msg.get("content")
    text = content if (content is None or type(content) is str) else text_of(content)
    reasoning = msg.get("reasoning_content")
    if type(reasoning) is not str:
        reasoning = msg.get("reasoning")
        if type(reasoning) is not str:
            reasoning = None
    calls = msg.get("tool_calls")
    n_calls = len(calls) if type(calls) is list else 0
    if not n_calls and msg.get("function_call") is not None:
        n_calls = 1
    return ParsedResponse(text=text, reasoning=reasoning, n_tool_calls=n_calls, stop_reason=c0.get("finish_reason"))
