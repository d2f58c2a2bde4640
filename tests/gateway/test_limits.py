"""Slow clients cannot starve the others: per-client requests in flight, body time limit, budget of other routes."""

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from gwclient import call, gateway
from servers import lifespan, request_body, serving

from polling import wait_until


@contextmanager
def slow_body(base: str, account: str, path: str = "/v1/chat/completions") -> Iterator[socket.socket]:
    """A request whose headers announce 1,000 body bytes of which only one is sent: held open until the block ends."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
                     f"content-length: 1000\r\nx-distillguard-account: {account}\r\n\r\n{{".encode())
        yield sock
    finally:
        sock.close()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_body_sent_too_slowly_gets_408_and_the_connection_closed(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path, body_timeout_s=0.5) as (base, _), slow_body(base, "acct-slow") as sock:
        answer = read_all(sock)  # returns only once the gateway closed the connection
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert call(base, "chat", False, "acct-slow").status_code == 200  # its slot was given back
    logged = [json.loads(line) for line in (tmp_path / "gateway.jsonl").read_text().splitlines()]
    assert [r["status"] for r in logged] == [408, 200]


def test_a_client_has_at_most_its_limit_of_requests_in_flight(upstream, tmp_path: Path) -> None:
    url, scripted = upstream
    with gateway(url, tmp_path, client_max_concurrent=2) as (base, app):
        before = len(scripted.requests)
        with slow_body(base, "acct-busy"), slow_body(base, "acct-busy"):
            wait_until(lambda: app.guarded.clients.in_flight("account:acct-busy") == 2, "two requests in flight")
            third = call(base, "chat", False, "acct-busy")
            other = call(base, "chat", False, "acct-other")
        wait_until(lambda: app.guarded.clients.in_flight("account:acct-busy") == 0, "the slow clients' slots freed")
        after = call(base, "chat", False, "acct-busy")
    assert third.status_code == 429 and third.json()["error"]["code"] == "too_many_requests_in_flight"
    assert third.headers["retry-after"] == "1"
    assert other.status_code == 200 and after.status_code == 200
    assert len(scripted.requests) - before == 2  # the abandoned bodies were not forwarded
    logged = sorted(json.loads(line)["status"] for line in (tmp_path / "gateway.jsonl").read_text().splitlines())
    assert logged == [200, 200, 429, 499, 499]


class _HeldUpstream:
    """Answers ``/held`` once ``release`` is set; every other path at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.held = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await request_body(receive)
        if scope["path"] == "/held":
            self.held += 1
            await asyncio.to_thread(self.release.wait)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"path": scope["path"]}).encode()})


def test_routes_outside_the_apis_have_their_own_budget(tmp_path: Path) -> None:
    held = _HeldUpstream()
    with serving(held) as up, gateway(up, tmp_path, unknown_routes={"max_concurrent": 1}) as (base, _):
        first: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: first.append(
            httpx.get(base + "/held", headers={"x-distillguard-account": "a"}, timeout=60)))
        waiting.start()
        try:
            wait_until(lambda: held.held == 1, "the first request is held upstream")
            busy = httpx.get(base + "/v1/models", headers={"x-distillguard-account": "b"})
            api = httpx.post(base + "/v1/chat/completions", json={"model": "m", "messages": []},
                             headers={"x-distillguard-account": "b"})
        finally:
            held.release.set()
            waiting.join(timeout=60)
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "route_busy"
    assert api.status_code == 200 and first[0].status_code == 200
