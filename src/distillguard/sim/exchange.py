"""Neutral requests, their Anthropic / OpenAI wire shapes, and the emitter that logs them."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from distillguard.sim.identity import Account, b62
from distillguard.sim.responses import Resp, tokens
from distillguard.sim.scenario import ErrorRates

GATEWAY_ISO = 0
GATEWAY_EPOCH = 1
GATEWAY_OFFSET = 2  # regional gateway: local-offset ISO time, no TLS fingerprint


@dataclass(slots=True)
class Req:
    """A request in neutral form; user text is a ``str``, tool traffic Anthropic-style blocks."""

    model: str
    messages: list[dict[str, Any]]
    system: str | None = None
    tools: list[dict[str, Any]] | None = None
    thinking: int | None = None
    max_tokens: int = 4096
    temperature: float | None = None
    stream: bool = False

    def __post_init__(self) -> None:
        if self.thinking and self.max_tokens <= self.thinking:  # the API requires room beyond the budget
            self.max_tokens = self.thinking + 4096


def effort_of(budget: int) -> str:
    """OpenAI ``reasoning_effort`` for an Anthropic-style thinking budget."""
    return "low" if budget <= 2048 else ("medium" if budget <= 12_000 else "high")


def tool_id(fmt: str, rng: random.Random) -> str:
    """A tool-call id in the format's style."""
    return "toolu_01" + b62(rng, 22) if fmt == "anthropic" else "call_" + b62(rng, 24)


# --------------------------------------------------------------- anthropic --


def anthropic_request(req: Req, blocks: bool) -> dict[str, Any]:
    """The ``/v1/messages`` body."""
    msgs = req.messages
    if blocks:
        msgs = [
            {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
            if isinstance(m["content"], str)
            else m
            for m in msgs
        ]
    body: dict[str, Any] = {"model": req.model, "max_tokens": req.max_tokens}
    if req.system:
        body["system"] = req.system
    body["messages"] = msgs
    if req.tools:
        body["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]} for t in req.tools
        ]
    if req.thinking:
        body["thinking"] = {"type": "enabled", "budget_tokens": req.thinking}
    if req.temperature is not None and not req.thinking:
        body["temperature"] = req.temperature
    if req.stream:
        body["stream"] = True
    return body


def anthropic_response(req: Req, resp: Resp, rng: random.Random) -> dict[str, Any]:
    """The Messages API response object."""
    content: list[dict[str, Any]] = []
    if resp.thinking:
        content.append({"type": "thinking", "thinking": resp.thinking, "signature": b62(rng, 24)})
    if resp.text:
        content.append({"type": "text", "text": resp.text})
    for cid, name, args in resp.tool_calls:
        content.append({"type": "tool_use", "id": cid, "name": name, "input": args})
    return {
        "id": "msg_01" + b62(rng, 22),
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": content,
        "stop_reason": resp.stop,
    }


# ------------------------------------------------------------------ openai --


def _openai_messages(req: Req, system_role: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if req.system:
        out.append({"role": system_role, "content": req.system})
    for m in req.messages:
        content = m["content"]
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        if m["role"] == "assistant":
            text = "".join(b["text"] for b in content if b["type"] == "text") or None
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": orjson.dumps(b["input"]).decode()},
                }
                for b in content
                if b["type"] == "tool_use"
            ]
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        else:
            for b in content:
                if b["type"] == "tool_result":
                    out.append({"role": "tool", "tool_call_id": b["tool_use_id"], "content": b["content"]})
                elif b["type"] == "text":
                    out.append({"role": "user", "content": b["text"]})
    return out


def openai_request(req: Req, system_role: str) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body."""
    body: dict[str, Any] = {"model": req.model, "messages": _openai_messages(req, system_role)}
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t["name"], "description": t["description"], "parameters": t["parameters"]},
            }
            for t in req.tools
        ]
    if req.thinking:
        body["reasoning_effort"] = effort_of(req.thinking)
        body["max_completion_tokens"] = req.max_tokens
    else:
        body["max_tokens"] = req.max_tokens
        if req.temperature is not None:
            body["temperature"] = req.temperature
    if req.stream:
        body["stream"] = True
    return body


def openai_response(req: Req, resp: Resp, rng: random.Random, ts_ms: int) -> dict[str, Any]:
    """The Chat Completions response object."""
    msg: dict[str, Any] = {"role": "assistant", "content": resp.text}
    if resp.thinking:
        msg["reasoning_content"] = resp.thinking
    if resp.tool_calls:
        msg["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": orjson.dumps(args).decode()}}
            for cid, name, args in resp.tool_calls
        ]
    finish = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}[resp.stop]
    return {
        "id": "chatcmpl-" + b62(rng, 29),
        "object": "chat.completion",
        "created": ts_ms // 1000 + 2,
        "model": req.model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
    }


_ERRORS = {
    ("anthropic", 429): b'{"type":"error","error":{"type":"rate_limit_error",'
                        b'"message":"Number of requests has exceeded your per-minute rate limit"}}',
    ("anthropic", 500): b'{"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
    ("openai", 429): b'{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}',
    ("openai", 500): b'{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}',
}


class Sink(Protocol):
    """Where encoded records go (the writer's time-sorted buffer)."""

    def add(self, ts_ms: int, head: dict[str, Any], request: bytes, response: bytes, usage: bytes, status: int) -> None:
        """Buffer one record."""


class Emitter:
    """Logs exchanges of one group of accounts: ids, timestamps, errors and retries, usage."""

    def __init__(
        self, sink: Sink, end_ms: int, rng: random.Random, errors: ErrorRates, per_account: int | None = None
    ) -> None:
        self.sink = sink
        self.end_ms = end_ms
        self.per_account = per_account
        self.rng = rng
        self.p429 = errors.rate_limited
        self.p500 = errors.rate_limited + errors.server_error
        self.count = 0
        self.first_ts = 0
        self.last_ts = 0

    def emit(
        self,
        acct: Account,
        ts: int,
        req: Req,
        resp: Resp,
        ip: str,
        *,
        user_agent: str | None = None,
        key: str | None = None,
    ) -> int:
        """Log one exchange at ``ts`` (after a failed attempt when errors strike); return its time.

        Nothing is logged past the scenario's end or an account's ``per_account`` limit.
        """
        if ts >= self.end_ms or (self.per_account is not None and acct.n_exchanges >= self.per_account):
            return ts
        rng = self.rng
        client = acct.client
        fmt = client.api_format
        if fmt == "anthropic":
            blocks = client.content == "blocks" or (client.content == "mixed" and rng.random() < 0.5)
            body = anthropic_request(req, blocks)
            endpoint = "/v1/messages"
        else:
            body = openai_request(req, "developer" if req.thinking and rng.random() < 0.3 else "system")
            endpoint = "/v1/chat/completions"
        req_bytes = orjson.dumps(body)
        head = {
            "request_id": "",
            "ts": None,
            "account_id": acct.id,
            "api_key_id": key or acct.keys[0],
        }
        if acct.org_id:
            head["org_id"] = acct.org_id
        head["ip"] = ip
        head["user_agent"] = user_agent or client.user_agent
        if acct.gateway != GATEWAY_OFFSET:
            head["tls_ja4"] = client.ja4
        head["model"] = req.model
        head["endpoint"] = endpoint
        r = rng.random()
        if r < self.p500:
            status = 429 if r < self.p429 else 500
            self._put(acct, ts, dict(head), req_bytes, _ERRORS[(fmt, status)], b"null", status)
            ts += rng.randint(400, 9000)
            if ts >= self.end_ms or (self.per_account is not None and acct.n_exchanges >= self.per_account):
                return ts
        in_tok = len(req_bytes) // 4 + 3
        out_tok = tokens(resp.text) + resp.reasoning_tokens + sum(
            12 + len(orjson.dumps(a)) // 4 for _, _, a in resp.tool_calls
        )
        if fmt == "anthropic":
            resp_bytes = orjson.dumps(anthropic_response(req, resp, rng))
            if req.tools and len(req.messages) > 2:
                cached = int(in_tok * 0.9)
                usage = {"input_tokens": in_tok - cached, "cache_read_input_tokens": cached, "output_tokens": out_tok}
            else:
                usage = {"input_tokens": in_tok, "output_tokens": out_tok}
        else:
            resp_bytes = orjson.dumps(openai_response(req, resp, rng, ts))
            usage = {
                "prompt_tokens": in_tok,
                "completion_tokens": out_tok,
                "total_tokens": in_tok + out_tok,
                "completion_tokens_details": {"reasoning_tokens": resp.reasoning_tokens},
            }
        self._put(acct, ts, head, req_bytes, resp_bytes, orjson.dumps(usage), 200)
        return ts

    def _put(
        self, acct: Account, ts: int, head: dict[str, Any], req: bytes, resp: bytes, usage: bytes, status: int
    ) -> None:
        head["request_id"] = f"req_{self.rng.getrandbits(96):024x}"
        head["ts"] = format_ts(ts, acct)
        self.sink.add(ts, head, req, resp, usage, status)
        acct.n_exchanges += 1
        if not self.count or ts < self.first_ts:
            self.first_ts = ts
        self.last_ts = max(self.last_ts, ts)
        self.count += 1


def format_ts(ts: int, acct: Account) -> str | int:
    """The ``ts`` field as this account's gateway logs it."""
    if acct.gateway == GATEWAY_EPOCH:
        return ts
    sec, ms = divmod(ts, 1000)
    if acct.gateway == GATEWAY_OFFSET:
        off = round(acct.tz)
        local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec + off * 3600))
        return f"{local}.{ms:03d}{'+' if off >= 0 else '-'}{abs(off):02d}:00"
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(sec))}.{ms:03d}Z"
