"""Gateway under attack and faults: route variants, slow-client flood, Redis restart, upstream failures.

    python bench/fault_gateway.py [--slow-clients 1010] [--flood-seconds 20] [--well-behaved 8]

Everything on 127.0.0.1: ``distillguard gateway`` (the command, its own
process) in front of a small upstream of this script (a raw asyncio HTTP/1.1
server, its own process, that can also fail on request: the client's
``x-fault`` header reaches it through the gateway). Prints one table:

(a) route variants: the 20 path/method variants of issue 14, each for a
    blocked, a strip_reasoning and an allowed account: share that gets the
    account's decision (blocked: 403 and never forwarded; stripped: the API's
    answer without its reasoning, or 403 outside the APIs; allowed: forwarded),
    and share found in the exchange log;
(b) slow-client flood: ``--slow-clients`` connections trickle request bodies
    to ``/v1/completions`` (the route the issue found unguarded, whose bodies
    were streamed to the upstream) from ten client addresses behind a trusted
    proxy, while ``--well-behaved`` clients call the API back to back: the
    share answered 200 within ``CALL_TIMEOUT_S`` (a stalled call fails);
(c) Redis killed (-9) and restarted empty: share of a blocked account's
    requests still refused afterwards;
(d) upstream faults (reset before or during the answer, a 500 HTML page,
    bytes that are not HTTP, a JSON answer that is not JSON), 3 APIs x stream
    or not x an allowed and a stripped account: share of well-formed answers
    (an error in the API's own shape: JSON with a 4xx/5xx, or a stream ending
    in the API's error event).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
from gwshapes import REASONING, STREAMS, WHOLE, sse  # noqa: E402  (the gateway tests' response shapes)

TOKEN = "fault-bench-token"
ADMIN = {"authorization": f"Bearer {TOKEN}"}
API_PATHS = {"/v1/messages": "anthropic", "/v1/chat/completions": "chat", "/v1/responses": "responses"}
REQUESTS = {
    "anthropic": {"model": "atlas-2-pro", "max_tokens": 512, "messages": [{"role": "user", "content": "Sum odds?"}]},
    "chat": {"model": "atlas-2-fast", "messages": [{"role": "user", "content": "Sum odds?"}]},
    "responses": {"model": "atlas-2-pro", "input": "Sum odds?"},
}
MARKER = REASONING.split(". ")[1]  # a sentence of the trace that no stripped answer may hold
#: (method, target on the wire, API it reaches or None): the variants of issue 14 (as in tests/gateway/test_routes.py)
VARIANTS: list[tuple[str, str, str | None]] = [
    ("POST", "/v1/completions", None), ("POST", "/v1/embeddings", None), ("POST", "/v1/messages/batches", None),
    ("GET", "/v1/responses/resp_123", None), ("PUT", "/v1/chat/completions", None),
    ("GET", "/v1/chat/completions", None), ("POST", "/v1/chat/completions/", "chat"),
    ("POST", "//v1/chat/completions", "chat"), ("POST", "/v1/./chat/completions", "chat"),
    ("POST", "/v1/x/../chat/completions", "chat"), ("POST", "/V1/chat/completions", "chat"),
    ("POST", "/v1/chat/completions;x", "chat"), ("POST", "/v1/chat%2Fcompletions", "chat"),
    ("POST", "/v1/%63hat/completions?x=1", "chat"), ("POST", "/v1/messages/", "anthropic"),
    ("POST", "/V1/Messages", "anthropic"), ("POST", "/v1/responses;jsessionid=1", "responses"),
    ("DELETE", "/v1/responses/resp_123", None), ("GET", "/v1/models", None), ("PATCH", "/v1/messages", None),
]
CALL_TIMEOUT_S = 10.0
FAULTS = ("reset-before", "reset-mid", "html-500", "not-http", "not-json")


# --- the upstream (run with --serve-upstream PORT) ---------------------------------------------


class Upstream:
    """An LLM API stand-in on raw sockets, so that it can also reset, cut short and speak garbage."""

    def __init__(self) -> None:
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
                body = await _read_body(reader, headers)
                if target == "/__stats":
                    await _answer(writer, 200, "application/json", json.dumps({"requests": self.requests}).encode())
                    continue
                self.requests += 1
                if not await self._respond(writer, method, target, headers, body):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, method: str, target: str, headers: dict[str, str],
                       body: bytes) -> bool:
        """Answer one request; False when the connection must end (faults)."""
        path = target.split("?", 1)[0]
        api = API_PATHS.get(path) if method == "POST" else None
        stream = bool(api) and b'"stream": true' in body
        if api is None:
            payload, kind = json.dumps({"object": "list", "data": [], "path": path}).encode(), "application/json"
        elif stream:
            payload, kind = sse(STREAMS[api]()), "text/event-stream"
        else:
            payload, kind = json.dumps(WHOLE[api]()).encode(), "application/json"
        fault = headers.get("x-fault")
        if fault == "reset-before":
            _reset(writer)
            return False
        if fault == "reset-mid":
            writer.write(_head(200, kind, None if stream else len(payload)) + payload[: len(payload) // 2])
            await writer.drain()
            _reset(writer)
            return False
        if fault == "html-500":
            await _answer(writer, 500, "text/html", b"<html><body><h1>500 Internal Server Error</h1></body></html>")
            return True
        if fault == "not-http":
            writer.write(b"\x00\xffSSH-2.0-garbage\r\n\r\n")
            await writer.drain()
            return False
        if fault == "not-json":
            payload = b"\x00\xff{this is not json" * 8
        if stream and fault is None:
            writer.write(_head(200, kind, None))
            for i in range(0, len(payload), 97):
                writer.write(payload[i:i + 97])
                await writer.drain()
            writer.close()
            return False
        await _answer(writer, 200, kind, payload, stream)
        return not stream


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip() or b"0", 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
        return body
    return await reader.readexactly(int(headers.get("content-length", "0")))


def _head(status: int, kind: str, length: int | None) -> bytes:
    framing = f"content-length: {length}\r\n" if length is not None else "connection: close\r\n"
    return f"HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\n{framing}\r\n".encode()


async def _answer(writer: asyncio.StreamWriter, status: int, kind: str, payload: bytes, close: bool = False) -> None:
    writer.write(_head(status, kind, None if close else len(payload)) + payload)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed upstream does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def serve_upstream(port: int) -> None:
    upstream = Upstream()

    async def main() -> None:
        server = await asyncio.start_server(upstream.handle, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check: Any, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.1)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def upstream_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(port)])
    try:
        _wait(lambda: _listening(port), "upstream listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def gateway_process(workdir: Path, name: str, **settings: Any) -> Iterator[str]:
    """``distillguard gateway`` with ``settings``; its exchange log is ``workdir/name.jsonl``."""
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"exchange_log": str(workdir / f"{name}.jsonl"), **settings}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (workdir / f"{name}.stderr").open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "distillguard.cli", "gateway", "--config", str(config),
                                    "--port", str(port), "--log-level", "warning"],
                                   env={**os.environ, "DISTILLGUARD_ADMIN_TOKEN": TOKEN}, stderr=stderr)
    try:
        _wait(lambda: process.poll() is not None or _listening(port), f"gateway {name} listening")
        if process.poll() is not None:
            raise RuntimeError(f"gateway {name} exited: {(workdir / f'{name}.stderr').read_text()}")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)  # a clean stop flushes the exchange log
        process.wait(timeout=120)


def set_action(base: str, account: str, action: str) -> None:
    httpx.put(f"{base}/admin/accounts/{account}/action", json={"action": action}, headers=ADMIN).raise_for_status()


def raw_request(base: str, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    """(status, body) of one request with its target sent byte for byte; status 0 if the connection broke."""
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, target, body=body or None, headers={"content-type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        connection.close()


def upstream_requests(upstream: str) -> int:
    return int(httpx.get(upstream + "/__stats").json()["requests"])


# --- (a) route variants --------------------------------------------------------------------------


def route_variants(upstream: str, workdir: Path) -> tuple[int, int, int]:
    """(requests, with the account's decision, found in the exchange log)."""
    accounts = {"acct-blocked": "block", "acct-stripped": "strip_reasoning", "acct-free": "allow"}
    right = 0
    with gateway_process(workdir, "routes", upstream=upstream, learn_in="thread") as base:
        for account, action in accounts.items():
            if action != "allow":
                set_action(base, account, action)
        for method, target, api in VARIANTS:
            kind = api or ("anthropic" if "messages" in target.lower() else "chat")
            body = json.dumps(REQUESTS[kind]).encode()
            for account in accounts:
                before = upstream_requests(upstream)
                status, answer = raw_request(base, method, target, {"x-distillguard-account": account}, body)
                forwarded = upstream_requests(upstream) > before
                if account == "acct-blocked" or (account == "acct-stripped" and api is None):
                    right += status == 403 and not forwarded and _is_error(answer)
                elif account == "acct-stripped":
                    right += status == 200 and forwarded and MARKER.encode() not in answer
                else:
                    right += status == 200 and forwarded
    logged = [json.loads(line) for line in (workdir / "routes.jsonl").read_text().splitlines()]
    found = sum(r["account_id"] in accounts and r["action"] == accounts[r["account_id"]] for r in logged)
    return len(VARIANTS) * len(accounts), right, found


def _is_error(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("error"), dict) and "message" in doc["error"]


# --- (b) slow-client flood -----------------------------------------------------------------------


async def _slow_client(port: int, i: int, stop: asyncio.Event, outcome: dict[str, int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        outcome["connect_failed"] += 1
        return
    writer.write(f"POST /v1/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
                 f"content-length: 100000\r\nx-forwarded-for: 198.18.0.{i % 10}\r\n\r\n{{".encode())
    try:
        while not stop.is_set():
            await writer.drain()
            try:
                head = await asyncio.wait_for(reader.read(12), 1.0)
            except TimeoutError:
                writer.write(b" ")  # one more byte a second
                continue
            outcome[head[9:12].decode() if head else "closed"] += 1
            return
        outcome["held"] += 1
    except ConnectionError:
        outcome["reset"] += 1
    finally:
        writer.close()


async def _well_behaved(base: str, i: int, stop: asyncio.Event, calls: list[tuple[int, float]]) -> None:
    async with httpx.AsyncClient(timeout=CALL_TIMEOUT_S) as client:
        while not stop.is_set():
            start = time.perf_counter()
            try:
                response = await client.post(base + "/v1/chat/completions", json=REQUESTS["chat"], headers={
                    "x-forwarded-for": f"203.0.113.{i}", "x-distillguard-account": f"acct-good-{i}"})
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            calls.append((status, time.perf_counter() - start))


async def _flood(base: str, slow: int, seconds: float, workers: int) -> tuple[list[tuple[int, float]],
                                                                               dict[str, int]]:
    port = int(base.rsplit(":", 1)[1])
    stop = asyncio.Event()
    outcome: dict[str, int] = {"held": 0, "connect_failed": 0, "reset": 0, "closed": 0}
    outcome.update({code: 0 for code in ("408", "429", "503")})
    slow_tasks = [asyncio.create_task(_slow_client(port, i, stop, outcome)) for i in range(slow)]
    await asyncio.sleep(2.0)  # the slow clients are connected and trickling
    calls: list[tuple[int, float]] = []
    good = [asyncio.create_task(_well_behaved(base, i, stop, calls)) for i in range(workers)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*good)  # the slow clients still hold their requests until every call is in
    await asyncio.gather(*slow_tasks)
    return calls, outcome


def slow_flood(upstream: str, workdir: Path, slow: int, seconds: float, workers: int) -> tuple[int, int, str]:
    """(well-behaved API calls, answered 200, a note: their latency and what the slow clients got)."""
    with gateway_process(workdir, "flood", upstream=upstream, trusted_proxies=["127.0.0.0/8"],
                         client_ip_header="x-forwarded-for") as base:
        calls, outcome = asyncio.run(_flood(base, slow, seconds, workers))
    times = sorted(t for _, t in calls)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))] if times else 0.0
    got = {k: v for k, v in outcome.items() if v}
    return len(calls), sum(s == 200 for s, _ in calls), f"p99 {1000 * p99:.0f} ms; slow clients got {got}"


# --- (c) Redis kill -9 and restart empty ---------------------------------------------------------


@contextmanager
def redis_process(port: int) -> Iterator[subprocess.Popen]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        _wait(lambda: _listening(port), "redis listening")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def redis_restart(upstream: str, workdir: Path, requests: int) -> tuple[int, int, int]:
    """(blocked requests before the restart refused, requests after, refused after)."""
    port = free_port()
    with redis_process(port) as redis, gateway_process(
            workdir, "redis", upstream=upstream, state=f"redis://127.0.0.1:{port}/0", learn_in="thread") as base:
        set_action(base, "acct-banned", "block")
        headers = {"x-distillguard-account": "acct-banned"}
        before = sum(raw_request(base, "POST", "/v1/chat/completions", headers,
                                 json.dumps(REQUESTS["chat"]).encode())[0] == 403 for _ in range(5))
        redis.kill()  # SIGKILL: nothing saved
        redis.wait(timeout=30)
        with redis_process(port):
            _wait(lambda: httpx.get(base + "/admin/status", headers=ADMIN).json()["state_ok"],
                  "the gateway sees Redis again")
            time.sleep(1.0)  # ten flush intervals: any re-sync has happened
            refused = 0
            for _ in range(requests):
                status, _ = raw_request(base, "POST", "/v1/chat/completions", headers,
                                        json.dumps(REQUESTS["chat"]).encode())
                refused += status == 403
                time.sleep(0.05)
    return before, requests, refused


# --- (d) upstream faults -------------------------------------------------------------------------


def well_formed(api: str, status: int, body: bytes) -> bool:
    """An error in the API's own shape: JSON with a 4xx/5xx, or a 200 stream ending in the API's error event."""
    if status >= 400:
        try:
            doc = json.loads(body)
        except ValueError:
            return False
        if api == "anthropic":
            return isinstance(doc, dict) and doc.get("type") == "error" and isinstance(doc.get("error"), dict)
        return isinstance(doc, dict) and isinstance(doc.get("error"), dict) and "message" in doc["error"]
    if status != 200:
        return False
    events = [e for e in body.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    if not events:
        return False
    data = b"".join(line[5:].strip() for line in events[-1].split(b"\n") if line.startswith(b"data:"))
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return isinstance(doc, dict) and ("error" in doc or doc.get("type") in ("error", "response.failed"))


def upstream_faults(upstream: str, workdir: Path) -> dict[str, dict[str, list[int]]]:
    """fault → account → [requests, well-formed answers]."""
    results = {fault: {"acct-free": [0, 0], "acct-stripped": [0, 0]} for fault in FAULTS}
    with gateway_process(workdir, "faults", upstream=upstream, learn_in="thread") as base:
        set_action(base, "acct-stripped", "strip_reasoning")
        for fault in FAULTS:
            for path, api in API_PATHS.items():
                for stream in (False, True):
                    for account in ("acct-free", "acct-stripped"):
                        body = json.dumps({**REQUESTS[api], "stream": stream}).encode()
                        status, answer = raw_request(base, "POST", path, {
                            "x-distillguard-account": account, "x-fault": fault}, body)
                        results[fault][account][0] += 1
                        results[fault][account][1] += well_formed(api, status, answer)
    return results


# --- report --------------------------------------------------------------------------------------


def _share(ok: int, n: int) -> str:
    return f"{100 * ok / n:.1f} % ({ok}/{n})" if n else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow-clients", type=int, default=1010)
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    parser.add_argument("--well-behaved", type=int, default=8)
    parser.add_argument("--redis-requests", type=int, default=60)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    random.seed(0)
    table = Table(title="distillguard gateway under attack and faults (127.0.0.1)")
    for column in ("check", "measured", "target", "met"):
        table.add_column(column)

    def row(check: str, ok: int, n: int, target: float, note: str = "") -> None:
        met = n > 0 and ok / n >= target
        table.add_row(check, _share(ok, n) + (f"  {note}" if note else ""), f"≥ {100 * target:g} %",
                      "[green]yes[/]" if met else "[red]no[/]")

    with tempfile.TemporaryDirectory(prefix="fault-gateway-") as tmp, upstream_process() as upstream:
        workdir = Path(tmp)
        n, right, logged = route_variants(upstream, workdir)
        row("(a) route variants: the account's decision", right, n, 1.0)
        row("(a) route variants: in the exchange log", logged, n, 1.0)
        calls, ok, note = slow_flood(upstream, workdir, args.slow_clients, args.flood_seconds, args.well_behaved)
        row(f"(b) {args.slow_clients} slow bodies: well-behaved API calls answered", ok, calls, 0.99, note)
        before, after, refused = redis_restart(upstream, workdir, args.redis_requests)
        row("(c) Redis kill -9, restart empty: block kept", refused, after, 1.0, f"before: {before}/5 refused")
        for fault, by_account in upstream_faults(upstream, workdir).items():
            (n_free, ok_free), (n_strip, ok_strip) = by_account["acct-free"], by_account["acct-stripped"]
            row(f"(d) upstream {fault}: well-formed answers", ok_free + ok_strip, n_free + n_strip, 1.0,
                f"allowed {ok_free}/{n_free}, stripped {ok_strip}/{n_strip}")
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
