"""Fold a streamed response back into one record for the exchange log.

The result is the simple response form the readers take (``text``,
``reasoning``, ``tool_calls``, ``stop_reason``, ``usage``), or for the
Responses API the final response object carried by ``response.completed``.
"""

from __future__ import annotations

from typing import Any

import orjson

from distillguard.core.api import ApiFormat
from distillguard.gateway.sse import SseParser


def collect_stream(api: ApiFormat, body: bytes) -> dict[str, Any]:
    """The response a stream carried, as one record."""
    parser = SseParser()
    docs = []
    for event in [*parser.feed(body), *parser.close()]:
        if event.is_done or not event.data:
            continue
        try:
            doc = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            docs.append(doc)
    folders = {ApiFormat.ANTHROPIC: _anthropic, ApiFormat.CHAT: _chat, ApiFormat.RESPONSES: _responses}
    return folders[api](docs)


def _simple(text: list[str], reasoning: list[str] | None, calls: int, stop: Any,
            usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": "".join(text) if text else None,
        "reasoning": "".join(reasoning) if reasoning is not None else None,
        "tool_calls": calls,
        "stop_reason": stop if isinstance(stop, str) else None,
        "usage": usage,
    }


def _anthropic(docs: list[dict[str, Any]]) -> dict[str, Any]:
    text: list[str] = []
    reasoning: list[str] | None = None
    calls = 0
    stop = None
    usage: dict[str, Any] = {}
    for doc in docs:
        kind = doc.get("type")
        if kind == "message_start" and isinstance(doc.get("message"), dict):
            usage.update(doc["message"].get("usage") or {})
        elif kind == "content_block_start":
            block = doc.get("content_block") or {}
            if block.get("type") in ("thinking", "redacted_thinking") and reasoning is None:
                reasoning = []
            elif block.get("type") in ("tool_use", "server_tool_use"):
                calls += 1
        elif kind == "content_block_delta":
            delta = doc.get("delta") or {}
            if delta.get("type") == "text_delta":
                text.append(str(delta.get("text") or ""))
            elif delta.get("type") == "thinking_delta":
                reasoning = (reasoning or []) + [str(delta.get("thinking") or "")]
        elif kind == "message_delta":
            stop = (doc.get("delta") or {}).get("stop_reason", stop)
            usage.update(doc.get("usage") or {})
    return _simple(text, reasoning, calls, stop, usage)


def _chat(docs: list[dict[str, Any]]) -> dict[str, Any]:
    text: list[str] = []
    reasoning: list[str] | None = None
    calls: set[int] = set()
    stop = None
    usage: dict[str, Any] = {}
    for doc in docs:
        if isinstance(doc.get("usage"), dict):
            usage = doc["usage"]
        for choice in doc.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                text.append(delta["content"])
            for key in ("reasoning_content", "reasoning"):
                if isinstance(delta.get(key), str):
                    reasoning = (reasoning or []) + [delta[key]]
                    break
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    calls.add(int(call.get("index", 0)))
            stop = choice.get("finish_reason") or stop
    return _simple(text, reasoning, len(calls), stop, usage)


def _responses(docs: list[dict[str, Any]]) -> dict[str, Any]:
    for doc in reversed(docs):
        response = doc.get("response")
        if doc.get("type") in ("response.completed", "response.incomplete", "response.failed") and isinstance(
            response, dict
        ):
            return response
    text: list[str] = []
    reasoning: list[str] | None = None
    for doc in docs:
        kind = str(doc.get("type") or "")
        if kind == "response.output_text.delta":
            text.append(str(doc.get("delta") or ""))
        elif kind.startswith("response.reasoning") and kind.endswith(".delta"):
            reasoning = (reasoning or []) + [str(doc.get("delta") or "")]
    return _simple(text, reasoning, 0, None, {})
