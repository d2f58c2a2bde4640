"""Small record fixtures shared by the ingest tests."""

from __future__ import annotations

import copy
from typing import Any

TS_ISO = "2026-03-02T09:15:02.114Z"
TS_MS = 1_772_442_902_114

ANTHROPIC_REQUEST: dict[str, Any] = {
    "model": "atlas-2-pro",
    "max_tokens": 1024,
    "system": "You are terse.",
    "thinking": {"type": "enabled", "budget_tokens": 4000},
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Solve x^2 = 4."}]}],
    "tools": [{"name": "calc", "input_schema": {"type": "object"}}],
}
ANTHROPIC_RESPONSE: dict[str, Any] = {
    "content": [
        {"type": "thinking", "thinking": "x is plus or minus 2.", "signature": "sig"},
        {"type": "text", "text": "x = ±2"},
    ],
    "stop_reason": "end_turn",
}
CHAT_REQUEST: dict[str, Any] = {
    "model": "atlas-2-fast",
    "reasoning_effort": "medium",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
    ],
}
CHAT_RESPONSE: dict[str, Any] = {
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "7", "reasoning_content": "Small primes: 2, 3, 5, 7."},
            "finish_reason": "stop",
        }
    ]
}
RESPONSES_REQUEST: dict[str, Any] = {
    "model": "atlas-2-fast",
    "instructions": "Answer in French.",
    "input": "What is the capital of Italy?",
    "reasoning": {"effort": "low"},
    "tools": [{"type": "function", "name": "lookup", "parameters": {}}, {"type": "web_search_preview"}],
}
RESPONSES_RESPONSE: dict[str, Any] = {
    "status": "completed",
    "output": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Capital of Italy is Rome."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Rome."}]},
    ],
    "usage": {"input_tokens": 20, "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 12}},
}


def exchange(**overrides: Any) -> dict[str, Any]:
    """A valid Anthropic Messages exchange record; ``overrides`` replace (``...`` removes) fields."""
    rec: dict[str, Any] = {
        "request_id": "req_1",
        "ts": TS_ISO,
        "account_id": "acct_1",
        "api_key_id": "key_1",
        "ip": "198.51.100.7",
        "user_agent": "anthropic-python/0.49.0",
        "model": "atlas-2-pro",
        "endpoint": "/v1/messages",
        "request": copy.deepcopy(ANTHROPIC_REQUEST),
        "response": copy.deepcopy(ANTHROPIC_RESPONSE),
        "usage": {"input_tokens": 100, "output_tokens": 50},
        "status": 200,
    }
    for key, value in overrides.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


def chat_exchange(**overrides: Any) -> dict[str, Any]:
    """A valid OpenAI Chat Completions exchange record."""
    base = {
        "endpoint": "/v1/chat/completions",
        "model": "atlas-2-fast",
        "ip": "2001:db8::17",
        "request": copy.deepcopy(CHAT_REQUEST),
        "response": copy.deepcopy(CHAT_RESPONSE),
        "usage": {"prompt_tokens": 12, "completion_tokens": 40, "completion_tokens_details": {"reasoning_tokens": 30}},
    }
    base.update(overrides)
    return exchange(**base)


def responses_exchange(**overrides: Any) -> dict[str, Any]:
    """A valid OpenAI Responses API exchange record."""
    base = {
        "endpoint": "/v1/responses",
        "model": "atlas-2-fast",
        "request": copy.deepcopy(RESPONSES_REQUEST),
        "response": copy.deepcopy(RESPONSES_RESPONSE),
        "usage": ...,
    }
    base.update(overrides)
    return exchange(**base)


def account(**overrides: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "account_id": "acct_1",
        "created_at": "2025-11-02T10:00:00Z",
        "category": "research",
        "email_domain": "lab.example.edu",
        "country": "US",
        "payment_fingerprint": "pf_1",
        "signup_ip": "198.51.100.7",
        "verification": "phone",
    }
    for key, value in overrides.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec
