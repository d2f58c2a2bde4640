"""Response bodies of the three APIs, whole and streamed, with a reasoning trace in each."""

from __future__ import annotations

import json
from typing import Any

REASONING = (
    "The user asks for the sum of the first ten odd numbers. "
    "Odd numbers are 1, 3, 5 and so on. "
    "The sum of the first n odd numbers is n squared. "
    "So the sum of the first ten odd numbers is 100. "
    "Check: 1+3+5+7+9+11+13+15+17+19 = 100."
)
ANSWER = "The sum is 100."


def sse(events: list[tuple[str | None, dict[str, Any] | str]], newline: str = "\n") -> bytes:
    """An SSE body from (event name, data) pairs."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}{newline}" if name else ""
        out.append(f"{head}data: {text}{newline}{newline}")
    return "".join(out).encode()


def anthropic_json() -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "atlas-2-pro",
        "content": [
            {"type": "thinking", "thinking": REASONING, "signature": "EqQBsig"},
            {"type": "redacted_thinking", "data": "ENCRYPTED"},
            {"type": "text", "text": ANSWER},
        ],
        "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 80},
    }


def anthropic_stream() -> list[tuple[str | None, dict[str, Any] | str]]:
    halves = [REASONING[:60], REASONING[60:]]
    return [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                                "content": [], "model": "atlas-2-pro"}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "thinking_delta", "thinking": h}}) for h in halves],
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": "EqQBsig"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "redacted_thinking", "data": "ENCRYPTED"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("ping", {"type": "ping"}),
        ("content_block_start", {"type": "content_block_start", "index": 2,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 2,
                                 "delta": {"type": "text_delta", "text": ANSWER}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 80}}),
        ("message_stop", {"type": "message_stop"}),
    ]


def chat_json() -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "model": "atlas-2-fast",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "reasoning_content": REASONING},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 90, "completion_tokens_details": {"reasoning_tokens": 70}},
    }


def chat_stream() -> list[tuple[str | None, dict[str, Any] | str]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
        return None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "atlas-2-fast",
                      "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    words = REASONING.split(" ")
    return [
        chunk({"role": "assistant", "content": ""}),
        *[chunk({"reasoning_content": w + " "}) for w in words],
        chunk({"content": ANSWER}),
        chunk({}, "stop"),
        (None, "[DONE]"),
    ]


def responses_json() -> dict[str, Any]:
    return {
        "id": "resp_1", "object": "response", "status": "completed", "model": "atlas-2-pro",
        "output": [
            {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": REASONING}],
             "content": [{"type": "reasoning_text", "text": REASONING}], "encrypted_content": "gAAAA"},
            {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": ANSWER, "annotations": []}]},
        ],
        "usage": {"input_tokens": 10, "output_tokens": 90, "output_tokens_details": {"reasoning_tokens": 70}},
    }


def responses_stream() -> list[tuple[str | None, dict[str, Any] | str]]:
    whole = responses_json()
    reasoning, message = whole["output"]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**whole, "status": "in_progress", "output": []}},
        {"type": "response.in_progress", "response": {**whole, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0, "summary_index": 0,
         "part": {"type": "summary_text", "text": ""}},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 0,
         "delta": REASONING},
        {"type": "response.reasoning_summary_text.done", "item_id": "rs_1", "output_index": 0, "summary_index": 0,
         "text": REASONING},
        {"type": "response.reasoning_summary_part.done", "item_id": "rs_1", "output_index": 0, "summary_index": 0,
         "part": {"type": "summary_text", "text": REASONING}},
        {"type": "response.reasoning_text.delta", "item_id": "rs_1", "output_index": 0, "content_index": 0,
         "delta": REASONING},
        {"type": "response.reasoning_text.done", "item_id": "rs_1", "output_index": 0, "content_index": 0,
         "text": REASONING},
        {"type": "response.output_item.done", "output_index": 0, "item": reasoning},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {**message, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 1, "content_index": 0,
         "part": {"type": "output_text", "text": "", "annotations": []}},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0,
         "delta": ANSWER},
        {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 1, "content_index": 0,
         "text": ANSWER},
        {"type": "response.output_item.done", "output_index": 1, "item": message},
        {"type": "response.completed", "response": whole},
    ]
    return [(e["type"], {**e, "sequence_number": i}) for i, e in enumerate(events)]


WHOLE = {"anthropic": anthropic_json, "chat": chat_json, "responses": responses_json}
STREAMS = {"anthropic": anthropic_stream, "chat": chat_stream, "responses": responses_stream}
