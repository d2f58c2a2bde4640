"""A raw-socket LLM API stand-in that misbehaves on request: compressed answers, resets, cut and stalled bodies.

The fault is named by the request's ``x-fault`` header (the gateway forwards the client's headers):

* ``gzip`` / ``deflate``: the answer compressed, whatever the request accepted; a stream in tiny chunks;
* ``reset``: half the answer, then a TCP reset;
* ``cut``: half the answer, then a clean close (the framing says more was coming);
* ``close-delimited``: a stream without length or chunking, closed before its last event;
* ``stall``: half the answer, then silence;
* ``no-answer``: the connection closed before any answer; ``slow-headers``: silence before the headers;
* ``html-500``: an HTML error page; ``not-json``: a 200 whose body is no JSON (nor SSE).
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gwshapes import STREAMS, WHOLE, sse

PATH_API = {"/v1/messages": "anthropic", "/v1/chat/completions": "chat", "/v1/responses": "responses"}
STALL_S = 5.0


def _read_request(rfile: Any) -> tuple[str, dict[str, str], bytes]:
    line = rfile.readline().decode("latin-1")
    path = line.split(" ")[1] if line.count(" ") >= 2 else "/"
    headers: dict[str, str] = {}
    while True:
        raw = rfile.readline().decode("latin-1").strip()
        if not raw:
            break
        name, _, value = raw.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(rfile.readline().strip() or b"0", 16)
            chunk = rfile.read(size + 2)[:size]
            if size == 0:
                break
            body += chunk
    else:
        body = rfile.read(int(headers.get("content-length", "0")))
    return path, headers, body


def compress(encoding: str, body: bytes) -> bytes:
    if encoding == "gzip":
        out = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    else:
        out = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS)
    return out.compress(body) + out.flush()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        path, headers, body = _read_request(self.rfile)
        fault = headers.get("x-fault", "")
        api = PATH_API.get(path, "chat")
        stream = bool(json.loads(body or b"{}").get("stream"))
        self.server.seen.append({"path": path, "headers": headers})  # type: ignore[attr-defined]
        sock = self.connection
        if fault == "no-answer":
            _reset(sock)
            return
        if fault == "slow-headers":
            time.sleep(STALL_S)
            return
        payload = sse(STREAMS[api]()) if stream else json.dumps(WHOLE[api]()).encode()
        content_type = b"text/event-stream" if stream else b"application/json"
        head = b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\n"
        if fault == "html-500":
            page = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
            sock.sendall(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/html\r\n"
                         b"content-length: %d\r\n\r\n" % len(page) + page)
            return
        if fault == "not-json":
            payload = b"\x00\xff{this is not json" * 8
        if fault in ("gzip", "deflate"):
            data = compress(fault, payload)
            head += b"content-encoding: " + fault.encode() + b"\r\n"
            if stream:
                sock.sendall(head + b"transfer-encoding: chunked\r\n\r\n")
                i = 0
                while i < len(data):  # pieces of 1 to 7 bytes of the compressed stream
                    step = 1 + i % 7
                    sock.sendall(_chunk(data[i:i + step]))
                    i += step
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(head + b"content-length: %d\r\n\r\n" % len(data) + data)
            return
        half = payload[: len(payload) // 2]
        if fault == "close-delimited":
            sock.sendall(head + b"connection: close\r\n\r\n" + half)
            sock.close()
            return
        if stream:
            sock.sendall(head + b"transfer-encoding: chunked\r\n\r\n" + _chunk(half))
        else:
            sock.sendall(head + b"content-length: %d\r\n\r\n" % len(payload) + half)
        if fault == "reset":
            time.sleep(0.05)
            _reset(sock)
        elif fault == "cut":
            sock.close()
        elif fault == "stall":
            time.sleep(STALL_S)
        else:
            rest = payload[len(half):]
            sock.sendall((_chunk(rest) + b"0\r\n\r\n") if stream else rest)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def faulty_upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve the misbehaving upstream on a free loopback port; yield its URL and the requests it saw."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
