"""Real HTTP servers on loopback for the gateway tests: a scripted upstream, and uvicorn in a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from gwshapes import STREAMS, WHOLE, sse

from polling import wait_until
from redis_server import free_port

PATH_API = {"/v1/messages": "anthropic", "/v1/chat/completions": "chat", "/v1/responses": "responses"}


async def lifespan(receive: Any, send: Any) -> None:
    """Answer an ASGI lifespan conversation: start up, then shut down when asked."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def request_body(receive: Any) -> bytes:
    """The whole body of an ASGI HTTP request."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class ScriptedUpstream:
    """An LLM API stand-in: the shapes of ``gwshapes``, SSE sent in small uneven chunks; records requests."""

    def __init__(self, chunk: int = 37) -> None:
        self.chunk = chunk
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = await request_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"path": scope["path"], "headers": headers, "body": body})
        api = PATH_API.get(scope["path"])
        if api is None:
            payload = json.dumps({"object": "list", "data": [{"id": "atlas-2-pro"}], "path": scope["path"]}).encode()
            cookie = [(b"set-cookie", b"cdn_session=for-the-first-caller; Path=/")] if scope["path"] == "/v1/login" else []
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), *cookie]})
            await send({"type": "http.response.body", "body": payload})
            return
        if json.loads(body or b"{}").get("stream"):
            payload = sse(STREAMS[api]())
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
            for i in range(0, len(payload), self.chunk):
                await send({"type": "http.response.body", "body": payload[i:i + self.chunk], "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        payload = json.dumps(WHOLE[api](), indent=1).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), f"server on port {port} started")
    if not server.started:
        raise RuntimeError(f"server on port {port} stopped while starting")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=120)  # shutdown flushes the gateway's log: slow on a loaded machine
        if thread.is_alive():
            raise RuntimeError("server did not shut down within 120 s")
