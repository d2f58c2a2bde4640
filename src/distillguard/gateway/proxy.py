"""The upstream as an ASGI app: every request forwarded with httpx, streamed both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from distillguard.gateway.middleware import Receive, Scope, Send, send_json
from distillguard.gateway.reasoning import API_PATHS

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"host",
})


def upstream_client(timeout: httpx.Timeout, limits: httpx.Limits) -> httpx.AsyncClient:
    """The forwarder's HTTP client: pooled connections, and no cookie jar.

    One client serves every account, so a cookie an upstream (or a CDN in
    front of it) sets in one account's response must never ride along on
    another account's request: the jar refuses every cookie. A client's own
    ``Cookie`` header is forwarded like any other header.
    """
    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(timeout=timeout, limits=limits, cookies=jar)


class UpstreamApp:
    """Forwards requests to ``upstream`` (an ``http(s)://host[:port][/prefix]`` URL) and streams the answers."""

    def __init__(self, upstream: str, client: httpx.AsyncClient) -> None:
        self.upstream = upstream.rstrip("/")
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = self.upstream + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        headers = [(k, v) for k, v in scope["headers"]
                   if k.lower() not in HOP_BY_HOP and k.lower() != b"content-length"]
        if scope["path"] in API_PATHS:  # the gateway must read what it may have to degrade
            headers = [(k, v) for k, v in headers if k.lower() != b"accept-encoding"]
            headers.append((b"accept-encoding", b"identity"))
        first = await receive()
        body = first.get("body", b"")
        content: bytes | AsyncIterator[bytes] = body if not first.get("more_body") else _rest(body, receive)
        request = self.client.build_request(scope["method"], url, headers=headers, content=content)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await send_json(send, 502, b'{"error": {"type": "bad_gateway", "message": "upstream unreachable: '
                            + type(exc).__name__.encode() + b'"}}')
            return
        try:
            out_headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out_headers})
            async for chunk in response.aiter_raw():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


async def _rest(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    yield first
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return
