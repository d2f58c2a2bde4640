"""Errors the gateway itself answers for an upstream that failed, in each API's own shape.

Before the response started: a JSON body with 502 (unreachable, reset, bad
answer) or 504 (timed out). Once a stream started: one SSE event in the API's
streaming error shape, after which the gateway closes the stream.
"""

from __future__ import annotations

from typing import Any

import httpcore
import orjson

from distillguard.core.api import ApiFormat

UPSTREAM_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError)


def upstream_status(exc: Exception) -> int:
    """504 for a timeout (connecting, reading, writing, or waiting for a free connection), else 502."""
    return 504 if isinstance(exc, httpcore.TimeoutException) else 502


def failure_message(exc: Exception, started: bool) -> str:
    """Plain words for a failure: before the answer or while it was being sent."""
    where = "failed while sending its answer" if started else "unreachable"
    if isinstance(exc, httpcore.TimeoutException):
        where = "timed out while sending its answer" if started else "timed out"
    return f"upstream {where}: {type(exc).__name__}"


def error_json(api: ApiFormat | None, status: int, message: str) -> bytes:
    """The JSON error body of ``api`` (OpenAI's shape for routes outside the three APIs)."""
    if api is ApiFormat.ANTHROPIC:
        kind = "timeout_error" if status == 504 else "api_error"
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    kind = "gateway_timeout" if status == 504 else "bad_gateway"
    code = "upstream_timeout" if status == 504 else "upstream_unreachable"
    return orjson.dumps({"error": {"type": kind, "message": message, "param": None, "code": code}})


def error_event(api: ApiFormat, message: str, sequence_number: int | None = None) -> bytes:
    """One SSE event that ends a broken stream of ``api`` the way that API reports a stream error.

    Anthropic: ``event: error`` with an ``api_error``; Chat Completions: a data-only ``{"error": ...}``
    chunk (what the OpenAI SDK raises on); Responses: an ``error`` event with the next ``sequence_number``.
    """
    doc: dict[str, Any]
    if api is ApiFormat.ANTHROPIC:
        name: str | None = "error"
        doc = {"type": "error", "error": {"type": "api_error", "message": message}}
    elif api is ApiFormat.CHAT:
        name = None
        doc = {"error": {"type": "server_error", "message": message, "param": None, "code": "upstream_failed"}}
    else:
        name = "error"
        doc = {"type": "error", "code": "upstream_failed", "message": message, "param": None,
               "sequence_number": sequence_number or 0}
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + orjson.dumps(doc) + b"\n\n"
