"""Pure ASGI middleware: decide per request, then enforce by wrapping ``send``.

Works in front of any ASGI app: the gateway's upstream proxy, or an
OpenAI-compatible server that loads it (vLLM ``--middleware``). Every request
gets a decision on its account and is logged, whatever its route; for allowed
accounts the response bytes pass through unchanged as they arrive.

The client is the peer of the connection as the ASGI scope gives it: the
server must not rewrite it from proxy headers (uvicorn ``proxy_headers=False``,
as ``distillguard gateway`` runs it), or a client could claim a trusted
proxy's address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from distillguard.core.api import ApiFormat, api_route, route_path
from distillguard.core.decision import Action
from distillguard.gateway.config import RouteRule
from distillguard.gateway.encoding import DecodingSend
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
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def error_body(api: ApiFormat, status: int, message: str, tier: str | None = None, code: str | None = None) -> bytes:
    """A structured error in the API's own error shape (naming the tier for verification); ``code`` when given,
    else the one of ``status``."""
    kind = _KINDS.get(status, "permission_error")
    code = code or _CODES.get(status, "verification_required" if tier else "account_blocked")
    detail: dict[str, Any] = {"message": message, "code": code}
    if tier is not None:
        detail["verification_tier"] = tier
    if api is ApiFormat.ANTHROPIC:
        return orjson.dumps({"type": "error", "error": {"type": kind, **detail}})
    return orjson.dumps({"error": {"type": kind, **detail}})


_KINDS = {408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error"}
_CODES = {408: "request_timeout", 413: "request_too_large", 429: "rate_limited", 503: "gateway_unavailable"}
RESTRICTED = frozenset({Action.THROTTLE, Action.SUMMARIZE_REASONING, Action.STRIP_REASONING})
"""Actions that restrict what an account gets without refusing it (``unknown_routes.restricted``)."""


async def send_json(send: Send, status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer with a JSON body."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ClientSlots:
    """Requests in flight per client, each client at most ``limit`` at once (the map holds busy clients only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._busy: dict[str, int] = {}

    def take(self, client: str) -> bool:
        """Count one more request of ``client``; False (nothing counted) if it already has ``limit``."""
        busy = self._busy.get(client, 0)
        if busy >= self.limit:
            return False
        self._busy[client] = busy + 1
        return True

    def in_flight(self, client: str) -> int:
        """The requests of ``client`` in flight now."""
        return self._busy.get(client, 0)

    def give(self, client: str) -> None:
        """One request of ``client`` is done."""
        busy = self._busy.pop(client) - 1
        if busy:
            self._busy[client] = busy


class GatewayMiddleware:
    """Decides, enforces and observes every request to the wrapped app, whatever its route.

    ``POST`` to one of the three APIs (its path read by :func:`route_path`) is
    forwarded under that API's canonical path, its answer degraded as the
    account's action says. Every other route is forwarded or refused by the
    ``unknown_routes`` settings, within its own concurrency budget. Each client
    (account, else client address) has at most ``client_max_concurrent``
    requests in flight and ``body_timeout_s`` to send a body.
    """

    def __init__(self, app: ASGIApp, engine: Engine, summarizer: Summarizer) -> None:
        self.app = app
        self.engine = engine
        self.summarizer = summarizer
        config = engine.config
        self.clients = ClientSlots(config.client_max_concurrent)
        self.unknown_free = config.unknown_routes.max_concurrent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine, config = self.engine, self.engine.config
        path = _request_path(scope)
        api = api_route(scope["method"], path)
        shape = api or _error_shape(path, scope)
        account, key_id, ip, headers = self._identify(scope)
        observed = Observed(
            ts_ms=_request_time(headers, config.replay_time_header), account_id=account or UNIDENTIFIED,
            api_key_id=key_id, ip=ip, user_agent=headers.get("user-agent"),
            endpoint=api.path if api is not None else path, request=b"",
            admission=Admission(engine.verdict(account), not config.dry_run))
        client = f"account:{account}" if account is not None else f"ip:{ip}"
        if not self.clients.take(client):
            observed.admission = _limit(observed.admission, 429, "too many requests in flight from this client", 1)
            await self._refuse(shape, observed, send, "too_many_requests_in_flight")
            engine.observe(observed)
            return
        try:
            watched = _Watched(receive)
            try:
                async with asyncio.timeout(config.body_timeout_s):
                    observed.request = await read_body(watched, config.max_body_bytes)
            except BodyTooLarge:
                observed.admission = _limit(observed.admission, 413, "request body too large")
                await self._refuse(shape, observed, send)
                return
            except TimeoutError:
                observed.admission = _limit(observed.admission, 408,
                                            f"request body not received within {config.body_timeout_s:g} s")
                await self._refuse(shape, observed, send, close=True)
                return
            if watched.gone:  # nobody to answer: decided and logged, not forwarded
                observed.admission = _limit(observed.admission, 499, "the client closed the request")
                return
            model = _model_of(observed.request) if engine.needs_model and api is not None else None
            observed.admission = await engine.admit(account, model)
            if api is None:
                await self._other_route(scope, receive, send, observed, shape)
                return
            if observed.admission.status is not None:
                await self._refuse(api, observed, send)
                return
            canonical = {**scope, "path": api.path, "raw_path": api.path.encode()}
            await self.app(canonical, _replay(observed.request, receive),
                           DecodingSend(_Responder(send, api, observed, self.summarizer, config.max_body_bytes),
                                        api, config.max_body_bytes))
        finally:
            self.clients.give(client)
            engine.observe(observed)

    async def _other_route(self, scope: Scope, receive: Receive, send: Send, observed: Observed,
                           shape: ApiFormat) -> None:
        """A route outside the three APIs: the account's refusal, else the ``unknown_routes`` rule."""
        decided = observed.admission
        observed.admission = self._route_admission(decided)
        if observed.admission.status is not None:
            await self._refuse(shape, observed, send, None if observed.admission is decided else "route_not_allowed")
            return
        if self.unknown_free <= 0:
            observed.admission = _limit(decided, 503, "too many requests to routes outside the APIs", 1)
            await self._refuse(shape, observed, send, "route_busy")
            return
        self.unknown_free -= 1
        try:
            await self.app(scope, _replay(observed.request, receive), _StatusOf(send, observed))
        finally:
            self.unknown_free += 1

    def _route_admission(self, admission: Admission) -> Admission:
        """``admission`` on a route outside the APIs: refused too when ``unknown_routes`` denies its action."""
        if admission.status is not None or admission.would_refuse is not None:
            return admission
        rules = self.engine.config.unknown_routes
        rule = rules.restricted if admission.verdict.action in RESTRICTED else rules.allowed
        if rule is RouteRule.FORWARD:
            return admission
        message = f"this account ({admission.verdict.action.value}) may not use routes outside the APIs"
        if admission.enforced:
            return Admission(admission.verdict, True, 403, message, None, 403)
        return Admission(admission.verdict, False, None, message, None, 403)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket is a route outside the APIs: refused (closed before it opens) or passed on, and logged."""
        account, key_id, ip, headers = self._identify(scope)
        admission = self._route_admission(await self.engine.admit(account))
        path = _request_path(scope)
        self.engine.observe(Observed(
            ts_ms=_request_time(headers, self.engine.config.replay_time_header), account_id=account or UNIDENTIFIED,
            api_key_id=key_id, ip=ip, user_agent=headers.get("user-agent"), endpoint=path, request=b"",
            admission=admission, status=admission.status))
        if admission.status is not None:
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)

    def _identify(self, scope: Scope) -> tuple[str | None, str | None, str, dict[str, str]]:
        """(account, api key id, client address, headers): identity headers only from a trusted peer."""
        engine, config = self.engine, self.engine.config
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        peer = (scope.get("client") or ("",))[0] or ""
        trusted = engine.config.trusts(peer)
        if not trusted:
            headers.pop(config.account_header, None)
        forwarded = headers.get(config.client_ip_header) if trusted and config.client_ip_header else None
        account, key_id = engine.identify(headers)
        return account, key_id, client_address(peer, forwarded, config.trusted_proxies), headers

    @staticmethod
    async def _refuse(shape: ApiFormat, observed: Observed, send: Send, code: str | None = None,
                      close: bool = False) -> None:
        """Answer the refusal of ``observed.admission`` in the error shape of ``shape``."""
        admission = observed.admission
        status = admission.status or 403
        extra = []
        if admission.retry_after is not None:
            extra.append((b"retry-after", str(admission.retry_after).encode()))
        if close:
            extra.append((b"connection", b"close"))
        await send_json(send, status, error_body(shape, status, admission.message, admission.verdict.tier, code), extra)


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


def _request_path(scope: Scope) -> str:
    """The request target's path as the client sent it (undecoded), else the server's decoded one."""
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope.get("path", ""))


def _error_shape(path: str, scope: Scope) -> ApiFormat:
    """The error shape for a route outside the APIs: Anthropic's under ``/messages`` or with its version
    header, else OpenAI's."""
    if route_path(path).startswith("/v1/messages") or any(k.lower() == b"anthropic-version"
                                                           for k, _ in scope["headers"]):
        return ApiFormat.ANTHROPIC
    return ApiFormat.CHAT


def client_address(peer: str, forwarded: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the right-most hop of ``forwarded`` (a trusted peer's X-Forwarded-For) that is not
    itself in ``trusted``, else ``peer``; a hop that is no address ends the walk (the last address read counts)."""
    address = peer or "0.0.0.0"
    for hop in reversed((forwarded or "").split(",")):
        ip = _parse_hop(hop)
        if ip is None:
            break
        address = str(ip)
        if not any(ip in network for network in trusted):
            break
    return address


def _parse_hop(hop: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of one X-Forwarded-For entry (``a.b.c.d``, ``a.b.c.d:port``, ``v6``, ``[v6]:port``)."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1:].split("]", 1)[0]
    elif hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    try:
        return ipaddress.ip_address(hop)
    except ValueError:
        return None


def _limit(admission: Admission, status: int, message: str, retry_after: int | None = None) -> Admission:
    """A refusal by the gateway's own limits (enforced in dry-run too: they protect the gateway)."""
    return Admission(admission.verdict, admission.enforced, status, message, retry_after, status)


class _Watched:
    """A ``receive`` that notes whether the client disconnected."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.gone = False

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.gone = True
        return message


class _StatusOf:
    """The wrapped ``send`` of a route outside the APIs: passes everything on, keeps the status."""

    def __init__(self, send: Send, observed: Observed) -> None:
        self.send = send
        self.observed = observed

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.observed.status = message["status"]
        await self.send(message)


class _Responder:
    """The wrapped ``send``: passes the response on, degraded when the admission says so, and keeps a copy.

    It sits behind :class:`DecodingSend`, so the answers it sees are never content-encoded.
    """

    def __init__(self, send: Send, api: ApiFormat, observed: Observed, summarizer: Summarizer,
                 capture_limit: int) -> None:
        self.send = send
        self.api = api
        self.observed = observed
        self.capture_limit = capture_limit
        degrade = observed.admission.degrade
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
        for name, value in message.get("headers", ()):
            if name.lower() == b"content-type":
                content_type = value.lower()
        self.observed.stream = b"text/event-stream" in content_type
        if self.transform is None or message["status"] >= 400:
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
            body, status = transform_json(self.api, b"".join(self.held), self.transform)
            headers = [(k, v) for k, v in self.start.get("headers", ()) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            self.observed.status = status or self.observed.status
            await self.send({**self.start, "status": self.observed.status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
