"""Checks that a simulated record has the real Anthropic / OpenAI log shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

HEAD = {"request_id", "ts", "account_id", "api_key_id", "org_id", "ip", "user_agent", "tls_ja4", "model",
        "endpoint", "request", "response", "usage", "status"}


def ts_ms(ts: Any) -> int:
    """Epoch ms of a ``ts`` field (ISO-8601 text or epoch ms)."""
    if isinstance(ts, int):
        return ts
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def _fail(rec: dict, why: str) -> AssertionError:
    return AssertionError(f"{why}: {orjson.dumps(rec)[:600].decode()}")


def check_record(rec: dict) -> str:
    """Raise AssertionError unless ``rec`` is well formed; return its API format."""
    if not set(rec) <= HEAD or not {"request_id", "ts", "account_id", "ip", "model", "endpoint", "request"} <= set(rec):
        raise _fail(rec, "top-level fields")
    ts_ms(rec["ts"])
    if rec["status"] not in (200, 429, 500):
        raise _fail(rec, "status")
    if rec["endpoint"] == "/v1/messages":
        check_anthropic(rec)
        return "anthropic"
    if rec["endpoint"] == "/v1/chat/completions":
        check_openai(rec)
        return "openai"
    raise _fail(rec, "endpoint")


def check_anthropic(rec: dict) -> None:
    req = rec["request"]
    if not isinstance(req.get("max_tokens"), int) or req["model"] != rec["model"]:
        raise _fail(rec, "max_tokens/model")
    if "system" in req and not isinstance(req["system"], str):
        raise _fail(rec, "system")
    if "thinking" in req and (
        req["thinking"]["type"] != "enabled"
        or not 1024 <= req["thinking"]["budget_tokens"] < req["max_tokens"]
        or "temperature" in req
    ):
        raise _fail(rec, "thinking")
    for tool in req.get("tools", ()):
        if set(tool) != {"name", "description", "input_schema"} or tool["input_schema"].get("type") != "object":
            raise _fail(rec, "tool schema")
    offered: set[str] = set()
    msgs = req["messages"]
    if not msgs or msgs[0]["role"] != "user":
        raise _fail(rec, "first message")
    for m in msgs:
        if m["role"] not in ("user", "assistant"):
            raise _fail(rec, "role")
        if isinstance(m["content"], str):
            continue
        for b in m["content"]:
            if b["type"] == "text":
                assert isinstance(b["text"], str)
            elif b["type"] == "tool_use" and m["role"] == "assistant":
                offered.add(b["id"])
            elif b["type"] == "tool_result" and m["role"] == "user":
                if b["tool_use_id"] not in offered:
                    raise _fail(rec, "tool_result without tool_use")
            else:
                raise _fail(rec, f"block {b['type']}")
    if rec["status"] != 200:
        if rec["response"]["type"] != "error" or rec["usage"] is not None:
            raise _fail(rec, "error shape")
        return
    resp = rec["response"]
    types = [b["type"] for b in resp["content"]]
    if not set(types) <= {"thinking", "text", "tool_use"}:
        raise _fail(rec, "response blocks")
    if ("thinking" in types) != ("thinking" in req):
        raise _fail(rec, "thinking block without thinking request (or the reverse)")
    if ("tool_use" in types) != (resp["stop_reason"] == "tool_use") or ("tool_use" in types and "tools" not in req):
        raise _fail(rec, "stop_reason / tool_use")
    usage = rec["usage"]
    if not (usage["input_tokens"] > 0 and usage["output_tokens"] > 0):
        raise _fail(rec, "usage")
    visible = sum(len(b.get("text", "")) for b in resp["content"]) // 4
    if usage["output_tokens"] < visible:
        raise _fail(rec, "output_tokens below visible text")


def check_openai(rec: dict) -> None:
    req = rec["request"]
    if req["model"] != rec["model"]:
        raise _fail(rec, "model")
    calls: set[str] = set()
    for i, m in enumerate(req["messages"]):
        role = m["role"]
        if role in ("system", "developer"):
            if i != 0:
                raise _fail(rec, "system not first")
        elif role == "assistant":
            calls |= {c["id"] for c in m.get("tool_calls", ())}
        elif role == "tool":
            if m["tool_call_id"] not in calls:
                raise _fail(rec, "tool message without call")
        elif role != "user":
            raise _fail(rec, "role")
    for tool in req.get("tools", ()):
        if tool["type"] != "function" or set(tool["function"]) != {"name", "description", "parameters"}:
            raise _fail(rec, "tool schema")
    if "reasoning_effort" in req and req["reasoning_effort"] not in ("low", "medium", "high"):
        raise _fail(rec, "reasoning_effort")
    if rec["status"] != 200:
        if "error" not in rec["response"] or rec["usage"] is not None:
            raise _fail(rec, "error shape")
        return
    choice = rec["response"]["choices"][0]
    msg = choice["message"]
    if msg["role"] != "assistant":
        raise _fail(rec, "message role")
    if ("reasoning_content" in msg) != ("reasoning_effort" in req):
        raise _fail(rec, "reasoning_content without reasoning_effort (or the reverse)")
    if bool(msg.get("tool_calls")) != (choice["finish_reason"] == "tool_calls"):
        raise _fail(rec, "finish_reason")
    for c in msg.get("tool_calls", ()):
        orjson.loads(c["function"]["arguments"])
    usage = rec["usage"]
    details = usage["completion_tokens_details"]["reasoning_tokens"]
    if usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"] or details > usage["completion_tokens"]:
        raise _fail(rec, "usage")
    if (details > 0) != ("reasoning_effort" in req):
        raise _fail(rec, "reasoning tokens without reasoning_effort")
