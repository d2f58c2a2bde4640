"""OpenAI Responses: the request's instructions and input items, and the response."""

from __future__ import annotations

from typing import Any

from distillguard.core.errors import RecordError
from distillguard.ingest.fields import UNKNOWN_REQUEST, UNKNOWN_RESPONSE, ParsedResponse, join_lines

__all__ = ["count_item_tool_results", "input_messages", "instructions", "parse_response"]

_TOOL_RESULT_TYPES = frozenset({"tool_result", "function_call_output"})
_SUMMARY_FIELDS = ("summary", "content")


def instructions(req: dict[str, Any]) -> list[str]:
    """The ``instructions`` (the system prompt), if a string."""
    text = req.get("instructions")
    return [text] if type(text) is str else []


def input_messages(items: Any) -> Any:
    """The ``input`` items; a bare string is one user message."""
    if type(items) is str:
        return [{"role": "user", "content": items}]
    return items


def count_item_tool_results(item: dict[str, Any]) -> int:
    """1 if an input item without a role is a tool result, else 0.

    Such items are function_call, function_call_output, reasoning, item_reference, and
    ``*_call`` / ``*_call_output`` for built-in tools.
    """
    it = item.get("type")
    if type(it) is not str:
        raise RecordError(UNKNOWN_REQUEST, "request")
    return 1 if it in _TOOL_RESULT_TYPES or it.endswith("_output") else 0


def parse_response(output: list[Any], resp: dict[str, Any]) -> ParsedResponse:
    """A response from its ``output`` items; the stop reason is the status, or why it is incomplete."""
    texts: list[str] = []
    thoughts: list[str] = []
    n_calls = 0
    for item in output:
        if type(item) is not dict:
            raise RecordError(UNKNOWN_RESPONSE, "response")
        it = item.get("type")
        if it == "message":
            content = item.get("content")
            if type(content) is list:
                for p in content:
                    if type(p) is dict:
                        pt = p.get("type")
                        if pt == "output_text" or pt == "text":
                            t = p.get("text")
                        elif pt == "refusal":
                            t = p.get("refusal")
                        else:
                            continue
                        if type(t) is str:
                            texts.append(t)
            elif type(content) is str:
                texts.append(content)
        elif it == "reasoning":
            for key in _SUMMARY_FIELDS:
                parts = item.get(key)
                if type(parts) is list:
                    for p in parts:
                        if type(p) is dict:
                            t = p.get("text")
                            if type(t) is str:
                                thoughts.append(t)
        elif type(it) is str and (it.endswith("_call") or it == "function_call"):
            n_calls += 1
    stop = resp.get("status")
    if stop == "incomplete":
        details = resp.get("incomplete_details")
        if type(details) is dict and type(details.get("reason")) is str:
            stop = details["reason"]
    return ParsedResponse(text=join_lines(texts), reasoning=join_lines(thoughts), n_tool_calls=n_calls, stop_reason=stop)
