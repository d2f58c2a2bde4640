"""Pure ASGI middleware: decide per request, then enforce by wrapping ``send``.

Works in front of any ASGI app: the gateway's upstream proxy, or an
OpenAI-compatible server that loads it (vLLM ``--middleware``). Requests to
paths other than the three APIs pass through untouched; for allowed accounts
the response bytes pass through unchanged as they arrive.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from distillguard.core.api import API_PATHS, ApiFormat
from distillguard.core.decision import Action
from distillguard.gateway.engine import UNIDENTIFIED, Admission, Engine, Observed
from distillguard.gateway.reasoning import (
    Degradation,
    ReasoningTransform,
    StreamTransformer,
    stream_transformer,
    transform_json,
)
from distillguard.gateway.summarize import Summarizer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body (raises BodyTooLarge beyond ``limit`` bytes)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise BodyTooLarge
        parts.append(body)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def error_body(api: ApiFormat, status: int, message: str, tier: str | None = None) -> bytes:
    """A structured error in the API's own error shape (naming the tier for verification)."""
    kind = {429: "rate_limit_error", 503: "overloaded_error"}.get(status, "permission_error")
    code = {429: "rate_limited", 503: "gateway_unavailable"}.get(
        status, "verification_required" if tier else "account_blocked")
    detail: dict[str, Any] = {"message": message, "code": code}
    if tier is not None:
        detail["verification_tier"] = tier
    if api is ApiFormat.ANTHROPIC:
        return orjson.dumps({"type": "error", "error": {"type": kind, **detail}})
    return orjson.dumps({"error": {"type": kind, **detail}})


async def send_json(send: Send, status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer with a JSON body."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GatewayMiddleware:
    """Decides, enforces and observes every request to the three APIs of the wrapped app."""

    def __init__(self, app: ASGIApp, engine: Engine, summarizer: Summarizer) -> None:
        self.app = app
        self.engine = engine
        self.summarizer = summarizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = API_PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if api is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        engine = self.engine
        try:
            body = await read_body(receive, engine.config.max_body_bytes)
        except BodyTooLarge:
            await send_json(send, 413, error_body(api, 413, "request body too large"))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not engine.trusts((scope.get("client") or ("",))[0]):
            headers.pop(engine.config.account_header, None)
            if engine.config.client_ip_header is not None:
                headers.pop(engine.config.client_ip_header, None)
        account, key_id = engine.identify(headers)
        model = _model_of(body) if engine.needs_model else None
        admission = await engine.admit(account, model)
        observed = Observed(
            ts_ms=_request_time(headers, engine.config.replay_time_header), account_id=account or UNIDENTIFIED,
            api_key_id=key_id,
            ip=_client_ip(scope, headers, engine.config.client_ip_header),
            user_agent=headers.get("user-agent"), endpoint=scope["path"], request=body, admission=admission,
        )
        try:
            if admission.status is not None:
                await self._refuse(api, admission, send)
                return
            await self.app(scope, _replay(body, receive), _Responder(send, api, admission, observed,
                                                                     self.summarizer, engine.config.max_body_bytes))
        finally:
            engine.observe(observed)

    async def _refuse(self, api: ApiFormat, admission: Admission, send: Send) -> None:
        extra = []
        if admission.retry_after is not None:
            extra.append((b"retry-after", str(admission.retry_after).encode()))
        body = error_body(api, admission.status or 403, admission.message, admission.verdict.tier)
        await send_json(send, admission.status or 403, body, extra)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then waits on the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _model_of(body: bytes) -> str | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = doc.get("model") if isinstance(doc, dict) else None
    return model if isinstance(model, str) else None


def _request_time(headers: dict[str, str], replay_header: str | None) -> int:
    """Now in epoch milliseconds, or the recorded time a replay sends in ``replay_header``."""
    if replay_header is not None:
        value = headers.get(replay_header, "")
        if value.isdigit():
            return int(value)
    return int(time.time() * 1000)


def _client_ip(scope: Scope, headers: dict[str, str], header: str | None) -> str:
    if header is not None and headers.get(header):
        return headers[header].split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "0.0.0.0"


class _Responder:
    """The wrapped ``send``: passes the response on, degraded when the admission says so, and keeps a copy."""

    def __init__(self, send: Send, api: ApiFormat, admission: Admission, observed: Observed, summarizer: Summarizer,
                 capture_limit: int) -> None:
        self.send = send
        self.api = api
        self.observed = observed
        self.capture_limit = capture_limit
        degrade = admission.degrade
        self.transform = None if degrade is None else ReasoningTransform(
            Degradation.STRIP if degrade is Action.STRIP_REASONING else Degradation.SUMMARIZE, summarizer)
        self.mode = "pass"
        self.start: Message | None = None
        self.stream: StreamTransformer | None = None
        self.held: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._start(message)
        elif message["type"] == "http.response.body":
            await self._body(message)
        else:
            await self.send(message)

    async def _start(self, message: Message) -> None:
        self.observed.status = message["status"]
        content_type = b""
        encoded = False
        for name, value in message.get("headers", ()):
            lname = name.lower()
            if lname == b"content-type":
                content_type = value.lower()
            elif lname == b"content-encoding" and value.lower() not in (b"identity", b""):
                encoded = True
        self.observed.stream = b"text/event-stream" in content_type
        if self.transform is None or encoded or message["status"] >= 400:
            await self.send(message)
            return
        if self.observed.stream:
            self.mode = "sse"
            self.stream = stream_transformer(self.api, self.transform)
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"content-length"]
            await self.send({**message, "headers": headers})
        elif b"json" in content_type:
            self.mode = "json"
            self.start = message
        else:
            await self.send(message)

    async def _body(self, message: Message) -> None:
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if chunk and len(self.observed.response) + len(chunk) <= self.capture_limit:
            self.observed.response += chunk
        if self.mode == "pass":
            await self.send(message)
        elif self.mode == "sse" and self.stream is not None:
            out = self.stream.feed(chunk)
            if not more:
                out += self.stream.close()
            if out or not more:
                await self.send({"type": "http.response.body", "body": out, "more_body": more})
        else:
            self.held.append(chunk)
            if more:
                return
            if self.start is None or self.transform is None:
                raise RuntimeError("response body before its start")
            body = transform_json(self.api, b"".join(self.held), self.transform)
            headers = [(k, v) for k, v in self.start.get("headers", ()) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await self.send({**self.start, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
