"""Incremental Server-Sent Events parsing and encoding.

The parser takes the response body in whatever chunks the network delivers
(events split across chunks, ``\\r\\n`` or ``\\n`` or ``\\r`` line ends,
multi-line ``data:``) and yields whole events, each with its original bytes so
that an event passed through unchanged is re-sent byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n")
_LINE = re.compile(rb"\r\n|\n|\r")


@dataclass(slots=True)
class SseEvent:
    """One event: its ``event`` name (None when absent), joined ``data`` and original bytes."""

    event: str | None
    data: str
    raw: bytes

    @property
    def is_done(self) -> bool:
        """The OpenAI end-of-stream marker ``data: [DONE]``."""
        return self.data.strip() == "[DONE]"


class SseParser:
    """Feed body chunks, get complete events; ``close`` returns a trailing unterminated event."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by ``chunk`` (in order)."""
        return [e for e in map(parse_event, self.blocks(chunk)) if e is not None]

    def blocks(self, chunk: bytes) -> list[bytes]:
        """The raw blocks (events and comment-only blocks, each with its blank line) completed by ``chunk``."""
        self._buffer += chunk
        blocks = []
        while True:
            match = _EVENT_END.search(self._buffer)
            if match is None:
                break
            # a lone "\r" at the buffer's end may be the first half of "\r\n": wait for more
            if match.group() == b"\r\r" and match.end() == len(self._buffer):
                break
            raw, self._buffer = self._buffer[: match.end()], self._buffer[match.end():]
            blocks.append(raw)
        return blocks

    def complete(self, chunk: bytes) -> tuple[bytes, bytes]:
        """The bytes of the blocks ``chunk`` completes, and the last of those blocks (both empty for none):
        :meth:`blocks` without cutting every block out."""
        self._buffer += chunk
        buffer = self._buffer
        if b"\r" not in buffer:  # "\n" line ends, the usual: found at C speed, not by the regex
            end = buffer.rfind(b"\n\n") + 2
            if end < 2:
                return b"", b""
            start = buffer.rfind(b"\n\n", 0, end - 2) + 2
            done, self._buffer = buffer[:end], buffer[end:]
            return done, done[start if start >= 2 else 0:]
        start = end = 0
        for match in _EVENT_END.finditer(buffer):
            if match.group() == b"\r\r" and match.end() == len(self._buffer):
                break  # maybe the first half of "\r\n": wait for more
            start, end = end, match.end()
        done, self._buffer = self._buffer[:end], self._buffer[end:]
        return done, done[start:]

    def close(self) -> list[SseEvent]:
        """Whatever is left when the stream ends (an event without its final blank line)."""
        raw = self.rest()
        event = parse_event(raw) if raw.strip() else None
        return [event] if event is not None else []

    def rest(self) -> bytes:
        """The bytes of an unfinished block, taken out of the parser."""
        raw, self._buffer = self._buffer, b""
        return raw


def parse_event(raw: bytes) -> SseEvent | None:
    """Parse the bytes of one event block; None for a block of comments only."""
    name: str | None = None
    data: list[str] = []
    seen = False
    for line in _LINE.split(raw):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", errors="replace")
        if field == b"event":
            name, seen = text, True
        elif field == b"data":
            data.append(text)
            seen = True
    if not seen:
        return None
    return SseEvent(name, "\n".join(data), raw)


def encode_event(data: str, event: object = None) -> bytes:
    """The bytes of one event (``data`` may hold several lines).

    ``event`` names it only when it is a string on one line: a name taken from an upstream
    document (a Responses ``type``) cannot break the stream into events of its own.
    """
    named = isinstance(event, str) and "\n" not in event and "\r" not in event
    head = f"event: {event}\n" if named else ""
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return (head + body + "\n").encode("utf-8")
