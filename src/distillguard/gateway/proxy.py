"""The upstream as an ASGI app: every request forwarded over httpcore (httpx's transport), streamed both ways.

The forwarder keeps its own small pool of ``httpcore.AsyncHTTPConnection``
keep-alive connections to the one upstream: no httpx request/response models,
cookie jar, event hooks or default headers, and no scan of every pooled
connection per request. The upstream sees the client's own headers (hop-by-hop
ones dropped). Outside the three APIs the client gets the upstream's bytes
unchanged as they arrive. For the three APIs, whose answers the gateway may
have to degrade, the forwarder asks for ``identity`` and decodes an encoded
answer anyway; it sends a whole JSON answer only once it has all of it, and a
stream in whole events: an upstream that fails midway leaves the client a
well-formed error in the API's own shape (:mod:`distillguard.gateway.upstream_errors`),
never a truncated body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpcore
import httpx
import orjson

from distillguard.core.api import API_PATHS, ApiFormat
from distillguard.gateway.encoding import BodyDecoder, UnreadableEncoding, decoder_for
from distillguard.gateway.middleware import Receive, Scope, Send, send_json
from distillguard.gateway.sse import SseEvent, SseParser, parse_event
from distillguard.gateway.upstream_errors import (
    UPSTREAM_ERRORS,
    error_event,
    error_json,
    failure_message,
    upstream_status,
)

log = logging.getLogger("distillguard.gateway")

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"host",
})
_NOT_FORWARDED = HOP_BY_HOP | {b"content-length"}  # the forwarder frames the body itself
_REFRAMED = frozenset({b"content-length", b"content-encoding"})  # of an API answer the forwarder decodes
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # an empty body is still announced as length 0
CONNECT_TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 32 * 1024 * 1024


class UpstreamPool:
    """HTTP/1.1 keep-alive connections to one ``http(s)://host[:port][/prefix]`` upstream.

    At most ``max_connections`` open at once and ``max_idle`` idle ones (the
    most recently used is reused first), each idle for at most ``keepalive_s``;
    TLS verified as httpx does. The pool keeps no cookies: one that an upstream
    (or a CDN in front of it) sets in one account's response goes back to that
    caller only and never rides along on another account's request. A client's
    own ``Cookie`` header is forwarded like any other header.
    """

    def __init__(self, upstream: str, max_connections: int = 1000, max_idle: int = 32, keepalive_s: float = 5.0) -> None:
        url = httpx.URL(upstream)
        self.scheme, self.host, self.port = url.raw_scheme, url.raw_host, url.port
        self.prefix = url.raw_path.split(b"?", 1)[0].rstrip(b"/")
        self.host_header = (b"host", url.netloc)
        self._origin = httpcore.Origin(self.scheme, self.host, url.port or (443 if self.scheme == b"https" else 80))
        self._ssl = httpx.create_ssl_context() if self.scheme == b"https" else None
        self._backend = httpcore.AnyIOBackend()
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[httpcore.AsyncHTTPConnection] = []
        self._max_idle = max_idle
        self._keepalive_s = keepalive_s
        self._closed = False

    async def acquire(self, timeout_s: float) -> httpcore.AsyncHTTPConnection:
        """A live idle connection, else a new one (it connects on first use); hand it back with ``release``.

        Raises ``httpcore.PoolTimeout`` if no connection frees up within ``timeout_s``.
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise httpcore.PoolTimeout(f"no upstream connection free within {timeout_s}s") from None
        while self._idle:
            connection = self._idle.pop()
            if not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(self._origin, ssl_context=self._ssl, keepalive_expiry=self._keepalive_s,
                                            network_backend=self._backend)

    async def release(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """Take back a connection whose response is closed: kept if reusable and the pool has room, else closed."""
        self._slots.release()
        if not self._closed and connection.is_available() and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            await connection.aclose()

    async def aclose(self) -> None:
        """Close the idle connections; those in use close when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()


class UpstreamApp:
    """Forwards requests to the upstream of ``pool`` and streams the answers.

    ``timeout_s`` bounds each read, write and wait for a free connection;
    connecting is bounded by ``CONNECT_TIMEOUT_S``. A request the upstream
    does not answer gets a 502 (504 for a timeout) in its API's error shape;
    ``max_answer_bytes`` bounds a whole (not streamed) API answer.
    """

    def __init__(self, pool: UpstreamPool, timeout_s: float, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.pool = pool
        self.timeout_s = timeout_s
        self.max_answer_bytes = max_answer_bytes
        self._extensions = {"timeout": {"connect": CONNECT_TIMEOUT_S, "read": timeout_s, "write": timeout_s}}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("raw_path") or quote(scope["path"]).encode()
        query = scope.get("query_string", b"")
        pool = self.pool
        target = pool.prefix + path + (b"?" + query if query else b"")
        api = API_PATHS.get(scope["path"])  # the gateway must read what it may have to degrade (the middleware
        # hands API requests on under their canonical path)
        headers = [pool.host_header]
        first = await receive()
        body = first.get("body", b"")
        content: bytes | AsyncIterator[bytes] = body
        if first.get("more_body"):
            content = _rest(body, receive)
            headers.append((b"transfer-encoding", b"chunked"))
        elif body or scope["method"] in _BODY_METHODS:
            headers.append((b"content-length", b"%d" % len(body)))
        for name, value in scope["headers"]:
            lower = name.lower()
            if lower not in _NOT_FORWARDED and not (api and lower == b"accept-encoding"):
                headers.append((name, value))
        if api:
            headers.append((b"accept-encoding", b"identity"))
        url = httpcore.URL(scheme=pool.scheme, host=pool.host, port=pool.port, target=target)
        request = httpcore.Request(scope["method"], url, headers=headers, content=content,
                                   extensions=self._extensions)
        try:
            connection = await pool.acquire(self.timeout_s)
        except httpcore.PoolTimeout as exc:
            await _failed(send, api, exc)
            return
        try:
            try:
                response = await connection.handle_async_request(request)
            except UPSTREAM_ERRORS as exc:
                await _failed(send, api, exc)
                return
            try:
                if api is None:
                    await _pass(response, send)
                else:
                    await self._answer(api, response, send)
            finally:
                await response.aclose()
        finally:
            await pool.release(connection)

    async def _answer(self, api: ApiFormat, response: httpcore.Response, send: Send) -> None:
        """An API answer, decoded: whole once read, or streamed in whole events; failures in the API's shape."""
        out_headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        encoding = next((v for k, v in out_headers if k.lower() == b"content-encoding"), None)
        content_type = next((v for k, v in out_headers if k.lower() == b"content-type"), b"")
        try:
            decoder = decoder_for(encoding, self.max_answer_bytes)
        except UnreadableEncoding as exc:
            await _refuse_answer(send, api, str(exc))
            return
        if decoder is not None:
            out_headers = [(k, v) for k, v in out_headers if k.lower() not in _REFRAMED]
        if b"text/event-stream" not in content_type.lower():
            await self._whole(api, response, out_headers, decoder, send)
            return
        out_headers = [(k, v) for k, v in out_headers if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
        relay = StreamRelay(api)
        try:
            async for chunk in response.aiter_stream():
                data = decoder.feed(chunk) if decoder is not None else chunk
                out = relay.feed(data)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tail = relay.close()
        except (*UPSTREAM_ERRORS, UnreadableEncoding) as exc:
            log.warning("upstream stream of %s broke: %s: %s", api.path, type(exc).__name__, exc)
            tail = relay.fail(failure_message(exc, True) if not isinstance(exc, UnreadableEncoding) else
                              f"upstream answer unreadable: {exc}")
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def _whole(self, api: ApiFormat, response: httpcore.Response, headers: list[tuple[bytes, bytes]],
                     decoder: BodyDecoder | None, send: Send) -> None:
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_stream():
                data = decoder.feed(chunk) if decoder is not None else chunk
                size += len(data)
                if size > self.max_answer_bytes:
                    raise UnreadableEncoding(f"answer larger than {self.max_answer_bytes} bytes")
                parts.append(data)
        except UPSTREAM_ERRORS as exc:
            log.warning("upstream answer of %s broke: %s", api.path, type(exc).__name__)
            await _failed(send, api, exc, started=True)
            return
        except UnreadableEncoding as exc:
            await _refuse_answer(send, api, str(exc))
            return
        body = b"".join(parts)
        if not _parses(body):  # every answer of the three APIs is JSON: this one was cut, or is no answer
            await _not_json(send, api, response, _close_delimited(response))
            return
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _rest(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    yield first
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


async def _pass(response: httpcore.Response, send: Send) -> None:
    """Outside the three APIs: the upstream's bytes as they arrive; a failure midway closes the connection."""
    out_headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
    await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
    try:
        async for chunk in response.aiter_stream():
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UPSTREAM_ERRORS as exc:
        # the body is cut: returning without its end makes the server close the connection, so the
        # client sees an incomplete body rather than a complete-looking short one
        log.warning("upstream answer broke midway: %s", type(exc).__name__)
        return
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _failed(send: Send, api: ApiFormat | None, exc: Exception, started: bool = False) -> None:
    status = upstream_status(exc)
    await send_json(send, status, error_json(api, status, failure_message(exc, started)))


async def _not_json(send: Send, api: ApiFormat, response: httpcore.Response, cut: bool) -> None:
    """An answer that is not JSON: a 502 for a 2xx (or one cut short), the API's error shape kept for an error."""
    kind = _header(response, b"content-type").decode("latin-1") or "no content type"
    if cut:
        await _failed(send, api, httpcore.RemoteProtocolError("answer cut short"), started=True)
        return
    status = response.status if response.status >= 400 else 502
    log.warning("upstream answer of %s: %d, %s, not JSON", api.path, response.status, kind)
    await send_json(send, status, error_json(api, status, f"upstream answered {response.status} ({kind}), not JSON"))


async def _refuse_answer(send: Send, api: ApiFormat, reason: str) -> None:
    log.warning("upstream answer of %s not passed on: %s", api.path, reason)
    await send_json(send, 502, error_json(api, 502, f"upstream answer unreadable: {reason}"))


_TERMINAL = {
    ApiFormat.ANTHROPIC: frozenset({"message_stop", "error"}),
    ApiFormat.CHAT: frozenset(),
    ApiFormat.RESPONSES: frozenset({"response.completed", "response.incomplete", "response.failed", "error"}),
}


class StreamRelay:
    """Passes an SSE answer of ``api`` on in whole blocks (bytes unchanged), and tells how it ended.

    A stream ends properly with its API's last event (Anthropic ``message_stop``, Chat ``[DONE]``,
    Responses ``response.completed`` / ``incomplete`` / ``failed``) or an error event. A stream that
    breaks, or ends without one, is closed with an error event in the API's shape instead of a cut block.
    Only the last event is read (at the end): relaying a block is finding where it ends.
    """

    def __init__(self, api: ApiFormat) -> None:
        self.api = api
        self._parser = SseParser()
        self._last: bytes = b""

    def feed(self, chunk: bytes) -> bytes:
        """The complete blocks ``chunk`` finishes."""
        done, last = self._parser.complete(chunk)
        if last.startswith(b":") and parse_event(last) is None:  # a keep-alive comment: the event is before it
            events = [b for b in SseParser().blocks(done) if parse_event(b) is not None]
            last = events[-1] if events else b""
        if last:
            self._last = last
        return done

    def close(self) -> bytes:
        """The end of a stream the upstream finished: its last block, or an error if it never ended properly."""
        rest = self._parser.rest()
        event = parse_event(rest) if rest.strip() else None  # a last event without its blank line
        last = event if event is not None else parse_event(self._last) if self._last else None
        if last is not None and self._ends(last):
            return rest + (b"\n\n" if event is not None else b"")
        return self.fail("upstream stream ended before its last event")

    def fail(self, message: str) -> bytes:
        """The error event that closes a broken stream (an unfinished block is dropped)."""
        self._parser.rest()
        last = parse_event(self._last) if self._last else None
        number = _json(last.data).get("sequence_number") if last is not None else None
        return error_event(self.api, message, number + 1 if isinstance(number, int) else 0)

    def _ends(self, event: SseEvent) -> bool:
        if self.api is ApiFormat.CHAT:
            return event.is_done or "error" in _json(event.data)
        kind = _json(event.data).get("type")
        return (event.event or kind) in _TERMINAL[self.api]


def _json(data: str) -> dict[str, object]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _header(response: httpcore.Response, name: bytes) -> bytes:
    return next((v for k, v in response.headers if k.lower() == name), b"")


def _close_delimited(response: httpcore.Response) -> bool:
    """An answer whose end is the connection's close: neither a length nor chunks."""
    return not _header(response, b"content-length") and b"chunked" not in _header(response,
                                                                                  b"transfer-encoding").lower()


def _parses(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def _has_error(data: str) -> bool:
    return "error" in _json(data)
