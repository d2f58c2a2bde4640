"""Turn one raw log record (a decoded JSON object) into one canonical row.

:func:`normalize_exchange` takes the record shapes API providers actually log —
an Anthropic Messages, OpenAI Chat Completions or OpenAI Responses request
with its response — and returns a dict keyed by the fields of
:data:`~distillguard.core.schema.EXCHANGE_SCHEMA`; :func:`normalize_account`
does the same for :data:`~distillguard.core.schema.ACCOUNT_SCHEMA`. A record
that cannot be read raises :class:`~distillguard.core.errors.RecordError`
naming the field at fault; the readers turn it into a reject.

Conventions worth knowing:

- ``ts`` is epoch milliseconds (UTC); ISO-8601 needs a zone; an integral float
  or a string of digits counts as epoch milliseconds; instants outside
  [2000, 2100) are rejected, which also catches epoch *seconds*.
- IPs are canonical text: dotted-quad IPv4, RFC 5952 IPv6 (identical on every
  platform and Python version); an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``,
  as dual-stack servers log IPv4 clients) becomes the plain IPv4 address.
- ``request`` / ``response`` / ``usage`` may be objects or JSON strings holding
  objects (as Parquet string columns store them).
- Text parts are joined with ``"\n"``. ``response_reasoning`` is ``""`` (not
  null) when the only reasoning was redacted, so "reasoning happened" survives.
- ``extra`` holds, as sorted-key JSON, every non-null top-level field the
  normaliser does not read (:data:`EXCHANGE_INPUT_FIELDS`); nothing is dropped.

This is the hot path of ``analyze``: exact-type checks and dict lookups, no
regex, no validation library, no caches.
"""

from __future__ import annotations

from datetime import datetime, timezone
from ipaddress import ip_address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any

import orjson

from distillguard.core.errors import RecordError
from distillguard.core.schema import ACCOUNT_SCHEMA, API_FORMATS, CATEGORIES, VERIFICATIONS

__all__ = [
    "EXCHANGE_INPUT_FIELDS",
    "ACCOUNT_INPUT_FIELDS",
    "normalize_account",
    "normalize_exchange",
    "parse_ip",
    "parse_ts",
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

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MIN_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
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

#: Top-level exchange fields the normaliser reads; every other top-level field
#: goes, as JSON, into ``extra``.
EXCHANGE_INPUT_FIELDS: frozenset[str] = frozenset(
    {
        "request_id",
        "ts",
        "account_id",
        "api_key_id",
        "org_id",
        "ip",
        "user_agent",
        "tls_ja4",
        "model",
        "endpoint",
        "api_format",
        "status",
        "request",
        "response",
        "usage",
    }
)

#: Top-level account fields the normaliser reads (``email`` is split into its parts).
ACCOUNT_INPUT_FIELDS: frozenset[str] = frozenset(
    {name for name in ACCOUNT_SCHEMA.names if name != "extra"} | {"email"}
)


_OPTIONAL_STRINGS = ("api_key_id", "org_id", "user_agent", "tls_ja4")
_CATEGORY_SET = frozenset(CATEGORIES)
_VERIFICATION_SET = frozenset(VERIFICATIONS)

# request kinds: which wire format the request body follows
_ANTHROPIC = "anthropic"
_CHAT = "chat"
_RESPONSES = "responses"
_KIND_FORMAT = {_ANTHROPIC: "anthropic", _CHAT: "openai", _RESPONSES: "openai"}
_KIND_ENDPOINT = {
    _ANTHROPIC: "/v1/messages",
    _CHAT: "/v1/chat/completions",
    _RESPONSES: "/v1/responses",
}
_ENDPOINT_KIND = {v: k for k, v in _KIND_ENDPOINT.items()}

_USER_TEXT_TYPES = frozenset({"text", "input_text"})
_ANY_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_TOOL_RESULT_TYPES = frozenset({"tool_result", "function_call_output"})
_ANTHROPIC_BLOCK_TYPES = frozenset(
    {
        "tool_use",
        "tool_result",
        "image",
        "document",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "search_result",
    }
)
_OPENAI_PART_TYPES = frozenset({"image_url", "input_audio", "file", "refusal"})
_OPENAI_ONLY_ROLES = frozenset({"system", "developer", "tool", "function"})
_OPENAI_REQUEST_KEYS = (
    "reasoning_effort",
    "max_completion_tokens",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "n",
    "seed",
)
_ANTHROPIC_REQUEST_KEYS = ("system", "thinking", "stop_sequences", "top_k", "anthropic_version")

_SUMMARY_FIELDS = ("summary", "content")

_V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
#: ":0:0:...:0:" from eight zero groups down to two, longest tried first.
_ZERO_RUNS = tuple(":" + "0:" * n for n in range(8, 1, -1))


# --- small helpers --------------------------------------------------------------------


def _tname(value: Any) -> str:
    t = type(value)
    return _TYPE_NAMES.get(t, t.__name__)


def _wrong(expected: str, value: Any, field: str) -> RecordError:
    return RecordError(f"expected {expected}, got {_tname(value)}", field)


def _req_str(obj: dict[str, Any], key: str) -> str:
    v = obj.get(key)
    if type(v) is str:
        if v:
            return v
        raise RecordError(EMPTY, key)
    if v is None:
        raise RecordError(MISSING, key)
    raise _wrong("string", v, key)


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    v = obj.get(key)
    if v is None or type(v) is str:
        return v
    raise _wrong("string", v, key)


def _opt_int(v: Any, field: str, maximum: int) -> int | None:
    """An optional non-negative integer (an integral float is accepted, as pandas writes them)."""
    if v is None:
        return None
    t = type(v)
    if t is float and v.is_integer():
        v = int(v)
    elif t is not int:
        raise _wrong("int", v, field)
    if 0 <= v <= maximum:
        return v
    raise RecordError("out of range", field)


def _as_object(v: Any, field: str) -> Any:
    """A nested object; a JSON string holding one is decoded (Parquet string columns)."""
    t = type(v)
    if t is dict or v is None:
        return v
    if t is str or t is bytes:
        try:
            v = orjson.loads(v)
        except orjson.JSONDecodeError:
            raise RecordError(BROKEN_JSON, field) from None
        if type(v) is dict or v is None:
            return v
    raise _wrong("object", v, field)


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
                ms = int(v)
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
        raise _wrong("string", v, field)
    try:
        packed = inet_pton(AF_INET, v)
    except OSError:
        pass
    else:
        # inet_pton accepts only canonical dotted quads on common platforms; check anyway.
        if inet_ntop(AF_INET, packed) == v:
            return v
    try:
        return _v6_text(inet_pton(AF_INET6, v))
    except OSError:
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


def _extra(obj: dict[str, Any], known: frozenset[str]) -> str | None:
    if obj.keys() <= known:
        return None
    rest = {k: v for k, v in obj.items() if k not in known and v is not None}
    if not rest:
        return None
    return orjson.dumps(rest, default=str, option=_DUMPS_OPTS).decode()


# --- request --------------------------------------------------------------------------


def _endpoint_kind(endpoint: str) -> str | None:
    kind = _ENDPOINT_KIND.get(endpoint)
    if kind is not None:
        return kind
    path = endpoint.split("?", 1)[0].rstrip("/")
    if path.endswith("/messages"):
        return _ANTHROPIC
    if path.endswith("/chat/completions"):
        return _CHAT
    if path.endswith("/responses"):
        return _RESPONSES
    return None


def _text_of(content: Any, types: frozenset[str] = _ANY_TEXT_TYPES) -> str:
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


def _guess_kind(req: dict[str, Any], messages: list[Any]) -> str:
    """Anthropic Messages or OpenAI Chat, from the structure alone (no endpoint given)."""
    for key in _ANTHROPIC_REQUEST_KEYS:
        if req.get(key) is not None:
            return _ANTHROPIC
    for key in _OPENAI_REQUEST_KEYS:
        if req.get(key) is not None:
            return _CHAT
    tools = req.get("tools")
    if type(tools) is list and tools and type(tools[0]) is dict:
        if tools[0].get("input_schema") is not None:
            return _ANTHROPIC
        if tools[0].get("function") is not None:
            return _CHAT
    for m in messages:
        if type(m) is not dict:
            continue
        role = m.get("role")
        if (type(role) is str and role in _OPENAI_ONLY_ROLES) or m.get("tool_calls") is not None:
            return _CHAT
        content = m.get("content")
        if type(content) is list:
            for b in content:
                if type(b) is dict:
                    bt = b.get("type")
                    if type(bt) is not str:
                        continue
                    if bt in _ANTHROPIC_BLOCK_TYPES:
                        return _ANTHROPIC
                    if bt in _OPENAI_PART_TYPES:
                        return _CHAT
    return _CHAT


def _tool_names(tools: Any) -> list[str]:
    if tools is None:
        return []
    if type(tools) is not list:
        raise _wrong("list", tools, "request.tools")
    names = []
    for tool in tools:
        if type(tool) is not dict:
            raise _wrong("object", tool, "request.tools")
        name = tool.get("name")
        if type(name) is not str:
            fn = tool.get("function")
            name = fn.get("name") if type(fn) is dict else None
            if type(name) is not str:
                name = tool.get("type")  # built-in tools: web_search_preview, code_interpreter ...
                if type(name) is not str:
                    continue
        names.append(name)
    return names


def _parse_request(req: dict[str, Any], kind: str | None) -> tuple[Any, ...]:
    """Return (kind, system, prompt, n_messages, n_user_turns, n_tool_results, tool_names,
    thinking_budget, reasoning_effort)."""
    messages = req.get("messages")
    items = req.get("input")
    if kind == _RESPONSES:
        if items is None and messages is not None:
            kind = None
    elif kind is not None and messages is None and items is not None:
        kind = _RESPONSES
    if kind is None:
        if messages is not None:
            if type(messages) is not list:
                raise RecordError(UNKNOWN_REQUEST, "request")
            kind = _guess_kind(req, messages)
        elif items is not None:
            kind = _RESPONSES
        else:
            raise RecordError(UNKNOWN_REQUEST, "request")

    system_parts: list[str] = []
    if kind == _RESPONSES:
        messages = items
        instructions = req.get("instructions")
        if type(instructions) is str:
            system_parts.append(instructions)
        if type(messages) is str:
            messages = [{"role": "user", "content": messages}]
    if type(messages) is not list:
        raise RecordError(UNKNOWN_REQUEST, "request")
    if kind == _ANTHROPIC:
        system = req.get("system")
        if system is not None:
            if type(system) is str:
                system_parts.append(system)
            elif type(system) is list:
                system_parts.append(_text_of(system))
            else:
                raise _wrong("string or list of text blocks", system, "request.system")

    n_user_turns = 0
    n_tool_results = 0
    last_user: Any = None
    has_user = False
    responses = kind == _RESPONSES
    for m in messages:
        if type(m) is not dict:
            raise RecordError(UNKNOWN_REQUEST, "request")
        role = m.get("role")
        if role == "user":
            has_user = True
            content = last_user = m.get("content")
            if type(content) is list:
                turn = False
                for b in content:
                    if type(b) is dict and b.get("type") == "tool_result":
                        n_tool_results += 1
                    else:
                        turn = True
                if turn:
                    n_user_turns += 1
            elif type(content) is str:
                n_user_turns += 1
            elif content is not None:
                raise RecordError(UNKNOWN_REQUEST, "request")
        elif role == "assistant":
            pass
        elif role == "system" or role == "developer":
            system_parts.append(_text_of(m.get("content")))
        elif role == "tool" or role == "function":
            n_tool_results += 1
        elif role is None and responses:
            # Responses API items without a role: function_call, function_call_output,
            # reasoning, item_reference, *_call / *_call_output for built-in tools.
            it = m.get("type")
            if type(it) is not str:
                raise RecordError(UNKNOWN_REQUEST, "request")
            if it in _TOOL_RESULT_TYPES or it.endswith("_output"):
                n_tool_results += 1
        else:
            raise RecordError(UNKNOWN_REQUEST, "request")

    prompt = _text_of(last_user, _USER_TEXT_TYPES) if has_user else None
    system = "\n".join(system_parts) if system_parts else None

    thinking_budget = None
    reasoning_effort = None
    if kind == _ANTHROPIC:
        thinking = req.get("thinking")
        if type(thinking) is dict:
            thinking_budget = _opt_int(
                thinking.get("budget_tokens"), "request.thinking.budget_tokens", _INT32_MAX
            )
    else:
        effort = req.get("reasoning_effort")
        if effort is None:
            reasoning = req.get("reasoning")
            if type(reasoning) is dict:
                effort = reasoning.get("effort")
        if effort is not None and type(effort) is not str:
            raise _wrong("string", effort, "request.reasoning_effort")
        reasoning_effort = effort

    return (
        kind,
        system,
        prompt,
        len(messages),
        n_user_turns,
        n_tool_results,
        _tool_names(req.get("tools")),
        thinking_budget,
        reasoning_effort,
    )


# --- response -------------------------------------------------------------------------


def _join(parts: list[str]) -> str | None:
    return "\n".join(parts) if parts else None


def _anthropic_response(content: list[Any], resp: dict[str, Any]) -> tuple[Any, ...]:
    texts: list[str] = []
    thoughts: list[str] = []
    redacted = False
    n_calls = 0
    for b in content:
        if type(b) is not dict:
            raise RecordError(UNKNOWN_RESPONSE, "response")
        bt = b.get("type")
        if bt == "text":
            t = b.get("text")
            if type(t) is str:
                texts.append(t)
        elif bt == "thinking":
            t = b.get("thinking")
            if type(t) is str:
                thoughts.append(t)
        elif bt == "redacted_thinking":
            redacted = True
        elif bt == "tool_use" or bt == "server_tool_use":
            n_calls += 1
    reasoning = _join(thoughts)
    if reasoning is None and redacted:
        reasoning = ""  # reasoning happened but its text is not visible
    return _join(texts), reasoning, n_calls, resp.get("stop_reason")


def _chat_response(choices: Any) -> tuple[Any, ...]:
    if type(choices) is not list:
        raise RecordError(UNKNOWN_RESPONSE, "response")
    if not choices:
        return None, None, 0, None
    c0 = choices[0]
    if type(c0) is not dict:
        raise RecordError(UNKNOWN_RESPONSE, "response")
    msg = c0.get("message")
    if msg is None:
        msg = c0.get("delta")  # a stream folded into one record
    if type(msg) is not dict:
        if msg is None:
            return None, None, 0, c0.get("finish_reason")
        raise RecordError(UNKNOWN_RESPONSE, "response")
    content = msg.get("content")
    text = content if (content is None or type(content) is str) else _text_of(content)
    reasoning = msg.get("reasoning_content")
    if type(reasoning) is not str:
        reasoning = msg.get("reasoning")
        if type(reasoning) is not str:
            reasoning = None
    calls = msg.get("tool_calls")
    n_calls = len(calls) if type(calls) is list else 0
    if not n_calls and msg.get("function_call") is not None:
        n_calls = 1
    return text, reasoning, n_calls, c0.get("finish_reason")


def _responses_response(output: list[Any], resp: dict[str, Any]) -> tuple[Any, ...]:
    texts: list[str] = []
    thoughts: list[str] = []
    n_calls = 0
    for item in output:
        if type(item) is not dict:
            raise RecordError(UNKNOWN_RESPONSE, "response")
        it = item.get("type")
        if it == "message":
            content = item.get("content")
            if type(content) is list:
                for p in content:
                    if type(p) is dict:
                        pt = p.get("type")
                        if pt == "output_text" or pt == "text":
                            t = p.get("text")
                        elif pt == "refusal":
                            t = p.get("refusal")
                        else:
                            continue
                        if type(t) is str:
                            texts.append(t)
            elif type(content) is str:
                texts.append(content)
        elif it == "reasoning":
            for key in _SUMMARY_FIELDS:
                parts = item.get(key)
                if type(parts) is list:
                    for p in parts:
                        if type(p) is dict:
                            t = p.get("text")
                            if type(t) is str:
                                thoughts.append(t)
        elif type(it) is str and (it.endswith("_call") or it == "function_call"):
            n_calls += 1
    stop = resp.get("status")
    if stop == "incomplete":
        details = resp.get("incomplete_details")
        if type(details) is dict and type(details.get("reason")) is str:
            stop = details["reason"]
    return _join(texts), _join(thoughts), n_calls, stop


def _canonical_response(resp: dict[str, Any]) -> tuple[Any, ...]:
    text = resp.get("text")
    if text is not None and type(text) is not str:
        raise _wrong("string", text, "response.text")
    reasoning = resp.get("reasoning")
    if reasoning is not None and type(reasoning) is not str:
        raise _wrong("string", reasoning, "response.reasoning")
    calls = resp.get("tool_calls")
    if calls is None:
        n_calls = 0
    elif type(calls) is list:
        n_calls = len(calls)
    else:
        n_calls = _opt_int(calls, "response.tool_calls", _INT32_MAX) or 0
    return text, reasoning, n_calls, resp.get("stop_reason")


def _parse_response(resp: dict[str, Any], status: int | None) -> tuple[Any, ...]:
    """Return (response_text, response_reasoning, n_tool_calls, stop_reason)."""
    choices = resp.get("choices")
    if choices is not None:
        out = _chat_response(choices)
    else:
        output = resp.get("output")
        content = resp.get("content")
        if type(output) is list:
            out = _responses_response(output, resp)
        elif type(content) is list:
            out = _anthropic_response(content, resp)
        elif type(content) is str:
            out = content, None, 0, resp.get("stop_reason")
        elif (
            resp.get("text") is not None
            or "stop_reason" in resp
            or "tool_calls" in resp
            or resp.get("reasoning") is not None
        ):
            out = _canonical_response(resp)
        elif resp.get("error") is not None or resp.get("type") == "error" or (
            status is not None and status >= 400
        ):
            return None, None, 0, None
        else:
            raise RecordError(UNKNOWN_RESPONSE, "response")
    stop = out[3]
    if stop is not None and type(stop) is not str:
        raise _wrong("string", stop, "response.stop_reason")
    return out


# --- usage ----------------------------------------------------------------------------


def _parse_usage(usage: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """(input, output, reasoning) tokens. Input counts the whole prompt in every format:
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
                (_opt_int(inp, "usage.input_tokens", _INT64_MAX) or 0)
                + (_opt_int(cache_read, "usage.cache_read_input_tokens", _INT64_MAX) or 0)
                + (_opt_int(cache_write, "usage.cache_creation_input_tokens", _INT64_MAX) or 0)
            )
            if inp > _INT64_MAX:
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
        _opt_int(inp, "usage.input_tokens", _INT64_MAX),
        _opt_int(out, "usage.output_tokens", _INT64_MAX),
        _opt_int(rea, "usage.reasoning_tokens", _INT64_MAX),
    )


# --- public ---------------------------------------------------------------------------


def normalize_exchange(obj: dict[str, Any]) -> dict[str, Any]:
    """Return one row of ``EXCHANGE_SCHEMA`` from a raw exchange record.

    Raises :class:`RecordError` (with the offending field) when the record
    cannot be read: a required field missing or of the wrong type, a bad
    timestamp or IP, or a request / response of no known shape.
    """
    if not isinstance(obj, dict):
        raise RecordError(NOT_OBJECT)
    request_id = _req_str(obj, "request_id")
    ts = obj.get("ts")
    if ts is None:
        raise RecordError(MISSING, "ts")
    ts = parse_ts(ts)
    account_id = _req_str(obj, "account_id")
    ip = parse_ip(obj.get("ip"))

    status = obj.get("status")
    if status is not None:
        status = _opt_int(status, "status", 999)

    req = obj.get("request")
    if type(req) is not dict:
        if req is None:
            raise RecordError(MISSING, "request")
        req = _as_object(req, "request")
        if req is None:
            raise RecordError(MISSING, "request")

    model = obj.get("model")
    if type(model) is not str or not model:
        if model is not None and type(model) is not str:
            raise _wrong("string", model, "model")
        model = req.get("model")
        if type(model) is not str or not model:
            raise RecordError(MISSING, "model")

    endpoint = obj.get("endpoint")
    kind = None
    if endpoint is not None:
        if type(endpoint) is not str:
            raise _wrong("string", endpoint, "endpoint")
        kind = _endpoint_kind(endpoint)
    if kind is None:
        hint = obj.get("api_format")
        if hint is not None:
            if hint == "anthropic":
                kind = _ANTHROPIC
            elif hint == "openai":
                kind = _CHAT  # becomes Responses when the body has ``input``, not ``messages``
            else:
                raise RecordError(f"not one of {', '.join(API_FORMATS)}", "api_format")
    (
        kind,
        system,
        prompt,
        n_messages,
        n_user_turns,
        n_tool_results,
        tool_names,
        thinking_budget,
        reasoning_effort,
    ) = _parse_request(req, kind)
    if not endpoint:
        endpoint = _KIND_ENDPOINT[kind]

    resp = obj.get("response")
    if type(resp) is not dict and resp is not None:
        resp = _as_object(resp, "response")
    if resp is None:
        if status is None or status < 400:
            raise RecordError(MISSING, "response")
        text = reasoning = stop_reason = None
        n_tool_calls = 0
    else:
        text, reasoning, n_tool_calls, stop_reason = _parse_response(resp, status)

    api_key_id = obj.get("api_key_id")
    org_id = obj.get("org_id")
    user_agent = obj.get("user_agent")
    tls_ja4 = obj.get("tls_ja4")
    if (
        (api_key_id is not None and type(api_key_id) is not str)
        or (org_id is not None and type(org_id) is not str)
        or (user_agent is not None and type(user_agent) is not str)
        or (tls_ja4 is not None and type(tls_ja4) is not str)
    ):
        for key in _OPTIONAL_STRINGS:
            _opt_str(obj, key)  # raises for the first one of the wrong type

    usage = obj.get("usage")
    if usage is None and resp is not None:
        usage = resp.get("usage")
    if usage is None:
        input_tokens = output_tokens = reasoning_tokens = None
    else:
        if type(usage) is not dict:
            usage = _as_object(usage, "usage")
        if usage is None:
            input_tokens = output_tokens = reasoning_tokens = None
        else:
            input_tokens, output_tokens, reasoning_tokens = _parse_usage(usage)

    return {
        "request_id": request_id,
        "ts": ts,
        "account_id": account_id,
        "api_key_id": api_key_id,
        "org_id": org_id,
        "ip": ip,
        "user_agent": user_agent,
        "tls_ja4": tls_ja4,
        "model": model,
        "endpoint": endpoint,
        "api_format": _KIND_FORMAT[kind],
        "system": system,
        "prompt": prompt,
        "n_messages": n_messages,
        "n_user_turns": n_user_turns,
        "n_tool_results": n_tool_results,
        "tool_names": tool_names,
        "thinking_budget": thinking_budget,
        "reasoning_effort": reasoning_effort,
        "response_text": text,
        "response_reasoning": reasoning,
        "n_tool_calls": n_tool_calls,
        "stop_reason": stop_reason,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "reasoning_tokens": reasoning_tokens,
        "status": status,
        "extra": _extra(obj, EXCHANGE_INPUT_FIELDS),
    }


def normalize_account(obj: dict[str, Any]) -> dict[str, Any]:
    """Return one row of ``ACCOUNT_SCHEMA`` from a raw account record."""
    if not isinstance(obj, dict):
        raise RecordError(NOT_OBJECT)
    account_id = _req_str(obj, "account_id")
    created_at = obj.get("created_at")
    if created_at is not None:
        created_at = parse_ts(created_at, "created_at")
    category = _opt_str(obj, "category")
    if category is not None and category not in _CATEGORY_SET:
        category = category.strip().lower()
        if category not in _CATEGORY_SET:
            raise RecordError(f"not one of {', '.join(CATEGORIES)}", "category")
    verification = _opt_str(obj, "verification")
    if verification is not None and verification not in _VERIFICATION_SET:
        verification = verification.strip().lower()
        if verification not in _VERIFICATION_SET:
            raise RecordError(f"not one of {', '.join(VERIFICATIONS)}", "verification")
    signup_ip = obj.get("signup_ip")
    if signup_ip is not None:
        signup_ip = parse_ip(signup_ip, "signup_ip")
    email_local = _opt_str(obj, "email_local")
    email_domain = _opt_str(obj, "email_domain")
    email = _opt_str(obj, "email")
    if email is not None:
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain:
            raise RecordError("invalid email address", "email")
        if email_local is None:
            email_local = local
        if email_domain is None:
            email_domain = domain.lower()
    return {
        "account_id": account_id,
        "created_at": created_at,
        "category": category,
        "email_domain": email_domain,
        "email_local": email_local,
        "country": _opt_str(obj, "country"),
        "payment_fingerprint": _opt_str(obj, "payment_fingerprint"),
        "signup_ip": signup_ip,
        "verification": verification,
        "extra": _extra(obj, ACCOUNT_INPUT_FIELDS),
    }

