"""Field parsing shared by every record shape: strings, integers, timestamps, IPs, nested
objects, text parts, token usage, and the reject reasons they raise.

Every check raises :class:`~distillguard.core.errors.RecordError` naming the field
at fault. This is the hot path of ``analyze``: exact-type checks and dict lookups,
no regex, no validation library, no caches.
"""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import ip_address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any, NamedTuple

import orjson

from distillguard.core.errors import RecordError

__all__ = [
    "BROKEN_JSON",
    "EMPTY",
    "INT32_MAX",
    "INT64_MAX",
    "INVALID_IP",
    "MISSING",
    "NOT_OBJECT",
    "UNKNOWN_REQUEST",
    "UNKNOWN_RESPONSE",
    "USER_TEXT_TYPES",
    "ParsedResponse",
    "as_object",
    "extra_json",
    "join_lines",
    "optional_int",
    "optional_str",
    "parse_ip",
    "parse_ts",
    "parse_usage",
    "required_str",
    "text_of",
    "tool_names",
    "wrong_type",
]

# --- reasons (a small, stable vocabulary: rejects are counted per reason) -------------

MISSING = "missing required field"
EMPTY = "empty string"
UNKNOWN_REQUEST = "unknown request shape"
UNKNOWN_RESPONSE = "unknown response shape"
INVALID_IP = "invalid IP address"
BROKEN_JSON = "broken JSON"
NOT_OBJECT = "not a JSON object"

# --- constants ------------------------------------------------------------------------

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_DUMPS_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS

_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "int",
    float: "float",
    bool: "bool",
    list: "list",
    dict: "object",
    type(None): "null",
    bytes: "bytes",
}

#: Content part types that carry text a user typed.
USER_TEXT_TYPES = frozenset({"text", "input_text"})
_ANY_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})

_V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
#: ":0:0:...:0:" from eight zero groups down to two, longest tried first.
_ZERO_RUNS = tuple(":" + "0:" * n for n in range(8, 1, -1))


class ParsedResponse(NamedTuple):
    """What every response format yields."""

    text: str | None
    reasoning: str | None
    n_tool_calls: int
    stop_reason: Any


# --- scalars --------------------------------------------------------------------------


def _tname(value: Any) -> str:
    t = type(value)
    return _TYPE_NAMES.get(t, t.__name__)


def wrong_type(expected: str, value: Any, field: str) -> RecordError:
    """The error for ``value`` at ``field`` not being of the ``expected`` type."""
    return RecordError(f"expected {expected}, got {_tname(value)}", field)


def required_str(obj: dict[str, Any], key: str) -> str:
    """A non-empty string field."""
    v = obj.get(key)
    if type(v) is str:
        if v:
            return v
        raise RecordError(EMPTY, key)
    if v is None:
        raise RecordError(MISSING, key)
    raise wrong_type("string", v, key)


def optional_str(obj: dict[str, Any], key: str) -> str | None:
    """A string field or None."""
    v = obj.get(key)
    if v is None or type(v) is str:
        return v
    raise wrong_type("string", v, key)


def optional_int(v: Any, field: str, maximum: int) -> int | None:
    """An optional non-negative integer (an integral float is accepted, as pandas writes them)."""
    if v is None:
        return None
    t = type(v)
    if t is int:
        n: int = v
    elif t is float and v.is_integer():
        n = int(v)
    else:
        raise wrong_type("int", v, field)
    if 0 <= n <= maximum:
        return n
    raise RecordError("out of range", field)


def as_object(v: Any, field: str) -> Any:
    """A nested object; a JSON string holding one is decoded (Parquet string columns; from the fast path, a view of
    the column's UTF-8 bytes)."""
    t = type(v)
    if t is dict or v is None:
        return v
    if t is str or t is bytes or t is memoryview:
        try:
            v = orjson.loads(v)
        except orjson.JSONDecodeError:
            raise RecordError(BROKEN_JSON, field) from None
        if type(v) is dict or v is None:
            return v
    raise wrong_type("object", v, field)


def parse_ts(v: Any, field: str = "ts") -> int:
    """Return epoch milliseconds (UTC) from an ISO-8601 string with a zone or epoch ms.

    Naive timestamps, strings that are not ISO-8601 and instants before 2000 or
    from 2100 on raise :class:`RecordError` naming ``field``.
    """
    t = type(v)
    if t is str:
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            if v.isdigit() and v.isascii():
                ms = int(v) if len(v) <= 19 else _MAX_MS  # past 19 digits: out of range (int() refuses 4,300)
            else:
                raise RecordError("bad timestamp: not ISO-8601", field) from None
        else:
            if dt.tzinfo is None:
                raise RecordError("bad timestamp: no time zone", field)
            d = dt - _EPOCH
            ms = d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000
    elif t is int:
        ms = v
    elif t is float and v.is_integer():
        ms = int(v)
    elif isinstance(v, datetime):  # Parquet timestamp columns
        if v.tzinfo is None:
            raise RecordError("bad timestamp: no time zone", field)
        d = v - _EPOCH
        ms = d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000
    else:
        raise RecordError(
            f"bad timestamp: expected ISO-8601 string or epoch milliseconds, got {_tname(v)}", field
        )
    if _MIN_MS <= ms < _MAX_MS:
        return ms
    raise RecordError("bad timestamp: out of range (before 2000 or from 2100)", field)


def _v6_text(packed: bytes) -> str:
    """RFC 5952 text of a 16-byte IPv6 address: lower-case hex, no leading zeros, the
    leftmost longest run of two or more zero groups as ``::``; IPv4-mapped
    addresses (``::ffff:a.b.c.d``) become plain IPv4 (the same host, dual-stack)."""
    if packed[:12] == _V4_MAPPED_PREFIX:
        return inet_ntop(AF_INET, packed[12:])
    h = packed.hex()
    s = ":" + ":".join([h[i : i + 4].lstrip("0") or "0" for i in range(0, 32, 4)]) + ":"
    for run in _ZERO_RUNS:
        k = s.find(run)
        if k >= 0:
            s = s[:k] + "::" + s[k + len(run) :]
            break
    if not s.startswith("::"):
        s = s[1:]
    if not s.endswith("::"):
        s = s[:-1]
    return s


def parse_ip(v: Any, field: str = "ip") -> str:
    """Return the compressed canonical text of an IPv4 or IPv6 address.

    IPv4 stays dotted-quad; IPv6 follows RFC 5952 (the same text on every
    platform and Python version); an IPv4-mapped IPv6 address becomes IPv4.
    """
    if type(v) is not str:
        if v is None:
            raise RecordError(MISSING, field)
        raise wrong_type("string", v, field)
    try:
        packed = inet_pton(AF_INET, v)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    else:
        # inet_pton accepts only canonical dotted quads on common platforms; check anyway.
        if inet_ntop(AF_INET, packed) == v:
            return v
    try:
        return _v6_text(inet_pton(AF_INET6, v))
    except (OSError, ValueError):
        pass
    try:  # the slow path: surrounding blanks, zone ids (fe80::1%eth0), leading zeros
        addr = ip_address(v.strip())
    except ValueError:
        raise RecordError(INVALID_IP, field) from None
    if addr.version == 4:
        return str(addr)
    scope = addr.scope_id
    text = _v6_text(addr.packed)
    return f"{text}%{scope}" if scope else text


def extra_json(obj: dict[str, Any], known: frozenset[str]) -> str | None:
    """Sorted-key JSON of every non-null top-level field not in ``known``; None if there is none."""
    if obj.keys() <= known:
        return None
    rest = {k: v for k, v in obj.items() if k not in known and v is not None}
    if not rest:
        return None
    try:
        return orjson.dumps(rest, default=str, option=_DUMPS_OPTS).decode()
    except TypeError as e:  # orjson.JSONEncodeError: nested past its 254 levels, or an integer past 64 bits
        for key, value in rest.items():
            try:
                orjson.dumps({key: value}, default=str, option=_DUMPS_OPTS)  # at its depth in ``extra``
            except TypeError:
                raise RecordError(f"not writable as JSON ({e})", str(key)) from None
        raise


# --- texts and tools ------------------------------------------------------------------


def text_of(content: Any, types: frozenset[str] = _ANY_TEXT_TYPES) -> str:
    """Text of a message content: a string, or text blocks / parts joined with newlines."""
    if type(content) is str:
        return content
    if type(content) is list:
        texts = []
        for b in content:
            if type(b) is dict:
                bt = b.get("type")
                if type(bt) is str and bt in types:
                    t = b.get("text")
                    if type(t) is str:
                        texts.append(t)
            elif type(b) is str:
                texts.append(b)
        return "\n".join(texts)
    return ""


def join_lines(parts: list[str]) -> str | None:
    """The parts joined with newlines; None if there are none."""
    return "\n".join(parts) if parts else None


def tool_names(tools: Any) -> list[str]:
    """Names of the tools a request declares, in any format: ``name``, ``function.name``, or the
    ``type`` of a built-in tool (web_search_preview, code_interpreter ...); nameless tools are skipped."""
    if tools is None:
        return []
    if type(tools) is not list:
        raise wrong_type("list", tools, "request.tools")
    names = []
    for tool in tools:
        if type(tool) is not dict:
            raise wrong_type("object", tool, "request.tools")
        name = tool.get("name")
        if type(name) is not str:
            fn = tool.get("function")
            name = fn.get("name") if type(fn) is dict else None
            if type(name) is not str:
                name = tool.get("type")
                if type(name) is not str:
                    continue
        names.append(name)
    return names


# --- usage ----------------------------------------------------------------------------


def parse_usage(usage: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """(input, output, reasoning) tokens, in any format. Input counts the whole prompt:
    Anthropic's ``input_tokens`` leaves out cache reads and writes, so they are added back
    (OpenAI's ``prompt_tokens`` / ``input_tokens`` already include cached tokens)."""
    inp = usage.get("input_tokens")
    if inp is None:
        inp = usage.get("prompt_tokens")
    else:
        cache_read = usage.get("cache_read_input_tokens")
        cache_write = usage.get("cache_creation_input_tokens")
        if cache_read is not None or cache_write is not None:
            inp = (
                (optional_int(inp, "usage.input_tokens", INT64_MAX) or 0)
                + (optional_int(cache_read, "usage.cache_read_input_tokens", INT64_MAX) or 0)
                + (optional_int(cache_write, "usage.cache_creation_input_tokens", INT64_MAX) or 0)
            )
            if inp > INT64_MAX:
                raise RecordError("out of range", "usage.input_tokens")
    out = usage.get("output_tokens")
    if out is None:
        out = usage.get("completion_tokens")
    rea = usage.get("reasoning_tokens")
    if rea is None:
        details = usage.get("completion_tokens_details")
        if details is None:
            details = usage.get("output_tokens_details")
        if type(details) is dict:
            rea = details.get("reasoning_tokens")
    return (
        optional_int(inp, "usage.input_tokens", INT64_MAX),
        optional_int(out, "usage.output_tokens", INT64_MAX),
        optional_int(rea, "usage.reasoning_tokens", INT64_MAX),
    )
