"""Incremental decoding of a response's ``Content-Encoding``, so that the gateway reads what it must degrade.

gzip, deflate (zlib-wrapped or raw) and, when the ``brotli`` package is
installed, br. The gateway asks the upstream for ``identity``; an upstream
that encodes anyway is decoded, and anything else is :class:`UnreadableEncoding`
(the gateway cannot pass on what it cannot read).
"""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from distillguard.core.api import ApiFormat
from distillguard.gateway.upstream_errors import error_json


class UnreadableEncoding(Exception):
    """The upstream answered in a content encoding the gateway cannot decode, or the bytes are corrupt."""


class _Decompressor(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


BROTLI = importlib.util.find_spec("brotli") is not None
"""Whether br responses can be decoded (the optional ``brotli`` package)."""


class BodyDecoder:
    """Feeds the chunks of one body encoded with ``encoding`` (a Content-Encoding value), returns decoded bytes.

    ``limit`` bounds the decoded size (a small compressed body may expand enormously).
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding.strip().lower()
        self.limit = limit
        self.size = 0
        self._raw_fallback = self.encoding == "deflate"
        self._buffer = b""
        self._inner = self._make()

    def _make(self) -> _Decompressor:
        if self.encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.encoding == "deflate":
            return zlib.decompressobj(zlib.MAX_WBITS)
        if self.encoding == "br" and BROTLI:
            import brotli  # optional

            decompressor: _Decompressor = brotli.Decompressor()
            return decompressor
        raise UnreadableEncoding(f"content encoding {self.encoding!r} cannot be decoded by the gateway")

    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes of ``chunk`` (may be empty)."""
        try:
            out = self._feed(chunk)
        except Exception as exc:  # zlib.error, brotli.error (not importable without brotli)
            raise UnreadableEncoding(f"corrupt {self.encoding} body: {exc}") from exc
        self.size += len(out)
        if self.size > self.limit:
            raise UnreadableEncoding(f"decoded {self.encoding} body larger than {self.limit} bytes")
        return out

    def _feed(self, chunk: bytes) -> bytes:
        if self._raw_fallback:  # "deflate" is meant to be zlib-wrapped; some servers send it raw
            self._buffer += chunk
            if len(self._buffer) < 2:
                return b""
            chunk, self._buffer, self._raw_fallback = self._buffer, b"", False
            try:
                return self._inner.decompress(chunk)
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        out = self._inner.decompress(chunk)
        rest = getattr(self._inner, "unused_data", b"")
        while rest and self.encoding in ("gzip", "x-gzip"):  # concatenated gzip members
            self._inner = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += self._inner.decompress(rest)
            rest = getattr(self._inner, "unused_data", b"")
        return out


def decoder_for(encoding: bytes | None, limit: int) -> BodyDecoder | None:
    """A decoder for a Content-Encoding header value; None when the body is not encoded."""
    if encoding is None:
        return None
    value = encoding.decode("latin-1").strip().lower()
    if value in ("", "identity"):
        return None
    if "," in value:
        raise UnreadableEncoding(f"content encoding {value!r}: several encodings stacked")
    return BodyDecoder(value, limit)


Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


class DecodingSend:
    """An ASGI ``send`` that decodes an encoded answer of ``api`` before passing it on, re-framed (no
    ``content-encoding`` nor ``content-length``); an answer in an encoding it cannot read becomes a 502 in
    the API's error shape, and a body that turns out corrupt ends where it broke."""

    def __init__(self, send: Send, api: ApiFormat, limit: int) -> None:
        self.send = send
        self.api = api
        self.limit = limit
        self._decoder: BodyDecoder | None = None
        self._done = False

    async def __call__(self, message: Message) -> None:
        if self._done:
            return
        if message["type"] == "http.response.start":
            headers = message.get("headers", ())
            try:
                self._decoder = decoder_for(
                    next((v for k, v in headers if k.lower() == b"content-encoding"), None), self.limit)
            except UnreadableEncoding as exc:
                self._done = True
                body = error_json(self.api, 502, f"upstream answer unreadable: {exc}")
                await self.send({"type": "http.response.start", "status": 502, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
                await self.send({"type": "http.response.body", "body": body})
                return
            if self._decoder is not None:
                message = {**message, "headers": [(k, v) for k, v in headers
                                                   if k.lower() not in (b"content-encoding", b"content-length")]}
        elif message["type"] == "http.response.body" and self._decoder is not None:
            try:
                message = {**message, "body": self._decoder.feed(message.get("body", b""))}
            except UnreadableEncoding:
                self._done = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
        await self.send(message)
