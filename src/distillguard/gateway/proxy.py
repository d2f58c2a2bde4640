"""The upstream as an ASGI app: every request forwarded over httpcore (httpx's transport), streamed both ways.

The forwarder keeps its own small pool of ``httpcore.AsyncHTTPConnection``
keep-alive connections to the one upstream: no httpx request/response models,
cookie jar, event hooks or default headers, and no scan of every pooled
connection per request. The upstream sees the client's own headers (hop-by-hop
ones dropped); the client gets the upstream's bytes unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpcore
import httpx

from distillguard.core.api import API_PATHS
from distillguard.gateway.middleware import Receive, Scope, Send, send_json

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"host",
})
_NOT_FORWARDED = HOP_BY_HOP | {b"content-length"}  # the forwarder frames the body itself
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # an empty body is still announced as length 0
CONNECT_TIMEOUT_S = 10.0
UPSTREAM_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError)


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
    does not answer gets a 502 naming the failure.
    """

    def __init__(self, pool: UpstreamPool, timeout_s: float) -> None:
        self.pool = pool
        self.timeout_s = timeout_s
        self._extensions = {"timeout": {"connect": CONNECT_TIMEOUT_S, "read": timeout_s, "write": timeout_s}}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("raw_path") or quote(scope["path"]).encode()
        query = scope.get("query_string", b"")
        pool = self.pool
        target = pool.prefix + path + (b"?" + query if query else b"")
        identity = scope["path"] in API_PATHS  # the gateway must read what it may have to degrade
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
            if lower not in _NOT_FORWARDED and not (identity and lower == b"accept-encoding"):
                headers.append((name, value))
        if identity:
            headers.append((b"accept-encoding", b"identity"))
        url = httpcore.URL(scheme=pool.scheme, host=pool.host, port=pool.port, target=target)
        request = httpcore.Request(scope["method"], url, headers=headers, content=content,
                                   extensions=self._extensions)
        try:
            connection = await pool.acquire(self.timeout_s)
        except httpcore.PoolTimeout as exc:
            await _bad_gateway(send, exc)
            return
        try:
            try:
                response = await connection.handle_async_request(request)
            except UPSTREAM_ERRORS as exc:
                await _bad_gateway(send, exc)
                return
            try:
                out_headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
                await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
                async for chunk in response.aiter_stream():
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                await response.aclose()
        finally:
            await pool.release(connection)


async def _bad_gateway(send: Send, exc: Exception) -> None:
    await send_json(send, 502, b'{"error": {"type": "bad_gateway", "message": "upstream unreachable: '
                    + type(exc).__name__.encode() + b'"}}')


async def _rest(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    yield first
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return
