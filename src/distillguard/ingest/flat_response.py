"""The flat response form ``{text, reasoning, tool_calls, stop_reason}`` some gateways log."""

from __future__ import annotations

from typing import Any

from distillguard.ingest.fields import INT32_MAX, ParsedResponse, optional_int, wrong_type

__all__ = ["is_flat", "parse_response"]


def is_flat(resp: dict[str, Any]) -> bool:
    """Whether a response (of no API format) has any field of the flat form."""
    return (
        resp.get("text") is not None
        or "stop_reason" in resp
        or "tool_calls" in resp
        or resp.get("reasoning") is not None
    )


def parse_response(resp: dict[str, Any]) -> ParsedResponse:
    """A flat response; ``tool_calls`` is a list of calls or their count."""
    text = resp.get("text")
    if text is not None and type(text) is not str:
        raise wrong_type("string", text, "response.text")
    reasoning = resp.get("reasoning")
    if reasoning is not None and type(reasoning) is not str:
        raise wrong_type("string", reasoning, "response.reasoning")
    calls = resp.get("tool_calls")
    if calls is None:
        n_calls = 0
    elif type(calls) is list:
        n_calls = len(calls)
    else:
        n_calls = optional_int(calls, "response.tool_calls", INT32_MAX) or 0
    return ParsedResponse(text=text, reasoning=reasoning, n_tool_calls=n_calls, stop_reason=resp.get("stop_reason"))
