"""Turn one raw exchange record (a decoded JSON object) into one canonical row.

:func:`normalize_exchange` takes the record shapes API providers actually log —
an Anthropic Messages, OpenAI Chat Completions or OpenAI Responses request
with its response, or alone (request-only logs: the response fields are null)
— finds the request's :class:`~distillguard.core.api.ApiFormat`
(from the endpoint, else the ``api_format`` hint, else the body) and hands each
part to its format's module. It returns a dict keyed by the fields of
:data:`~distillguard.core.schema.EXCHANGE_SCHEMA`. A record that cannot be read
raises :class:`~distillguard.core.errors.RecordError` naming the field at fault;
the readers turn it into a reject.

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
"""

from __future__ import annotations

from typing import Any, NamedTuple

from distillguard.core.api import ApiFormat, api_format_of
from distillguard.core.errors import RecordError
from distillguard.core.schema import API_FORMATS
from distillguard.ingest import anthropic_messages, flat_response, openai_chat, openai_responses
from distillguard.ingest.fields import (
    MISSING,
    NOT_OBJECT,
    UNKNOWN_REQUEST,
    UNKNOWN_RESPONSE,
    ParsedResponse,
    as_object,
    extra_json,
    join_lines,
    optional_int,
    optional_str,
    parse_ip,
    parse_ts,
    parse_usage,
    required_str,
    tool_names,
    wrong_type,
)
from distillguard.ingest.messages import read_conversation

__all__ = [
    "EXCHANGE_INPUT_FIELDS",
    "NO_RESPONSE",
    "PROVIDER",
    "ParsedRequest",
    "normalize_exchange",
    "parse_request",
    "parse_response",
    "usage_tokens",
]

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

_OPTIONAL_STRINGS = ("api_key_id", "org_id", "user_agent", "tls_ja4")

# Members bound once: on this hot path a global is several times faster than an enum attribute.
_ANTHROPIC = ApiFormat.ANTHROPIC
_CHAT = ApiFormat.CHAT
_RESPONSES = ApiFormat.RESPONSES

#: The schema's ``api_format`` column names the provider of each format (one of API_FORMATS).
PROVIDER: dict[ApiFormat, str] = {_ANTHROPIC: "anthropic", _CHAT: "openai", _RESPONSES: "openai"}

NO_RESPONSE = ParsedResponse(text=None, reasoning=None, n_tool_calls=0, stop_reason=None)


class ParsedRequest(NamedTuple):
    """The request fields of an exchange row, and the format the request was read in."""

    api_format: ApiFormat
    system: str | None
    prompt: str | None
    n_messages: int
    n_user_turns: int
    n_tool_results: int
    tool_names: list[str]
    thinking_budget: int | None
    reasoning_effort: str | None


# --- request --------------------------------------------------------------------------


def _guess_format(req: dict[str, Any], messages: list[Any]) -> ApiFormat:
    """Anthropic Messages or OpenAI Chat, from the structure alone (no endpoint given)."""
    for key in anthropic_messages.REQUEST_KEYS:
        if req.get(key) is not None:
            return _ANTHROPIC
    for key in openai_chat.REQUEST_KEYS:
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
        if (type(role) is str and role in openai_chat.ONLY_ROLES) or m.get("tool_calls") is not None:
            return _CHAT
        content = m.get("content")
        if type(content) is list:
            for b in content:
                if type(b) is dict:
                    bt = b.get("type")
                    if type(bt) is not str:
                        continue
                    if bt in anthropic_messages.BLOCK_TYPES:
                        return _ANTHROPIC
                    if bt in openai_chat.PART_TYPES:
                        return _CHAT
    return _CHAT


def parse_request(req: dict[str, Any], api_format: ApiFormat | None) -> ParsedRequest:
    """Read a request body in ``api_format``; None (or a body that says otherwise) is found out."""
    messages = req.get("messages")
    items = req.get("input")
    if api_format is _RESPONSES:
        if items is None and messages is not None:
            api_format = None
    elif api_format is not None and messages is None and items is not None:
        api_format = _RESPONSES
    if api_format is None:
        if messages is not None:
            if type(messages) is not list:
                raise RecordError(UNKNOWN_REQUEST, "request")
            api_format = _guess_format(req, messages)
        elif items is not None:
            api_format = _RESPONSES
        else:
            raise RecordError(UNKNOWN_REQUEST, "request")

    system_parts: list[str] = []
    count_roleless = None
    if api_format is _RESPONSES:
        system_parts = openai_responses.instructions(req)
        messages = openai_responses.input_messages(items)
        count_roleless = openai_responses.count_item_tool_results
    if type(messages) is not list:
        raise RecordError(UNKNOWN_REQUEST, "request")
    if api_format is _ANTHROPIC:
        system_parts = anthropic_messages.system_texts(req)
    conversation = read_conversation(messages, count_roleless)

    thinking_budget = None
    reasoning_effort = None
    if api_format is _ANTHROPIC:
        thinking_budget = anthropic_messages.thinking_budget(req)
    else:
        reasoning_effort = openai_chat.reasoning_effort(req)
    return ParsedRequest(
        api_format=api_format,
        system=join_lines(system_parts + conversation.system_parts),
        prompt=conversation.prompt,
        n_messages=len(messages),
        n_user_turns=conversation.n_user_turns,
        n_tool_results=conversation.n_tool_results,
        tool_names=tool_names(req.get("tools")),
        thinking_budget=thinking_budget,
        reasoning_effort=reasoning_effort,
    )


# --- response -------------------------------------------------------------------------


def parse_response(resp: dict[str, Any], status: int | None) -> ParsedResponse:
    """Read a response body in whichever format its keys show."""
    choices = resp.get("choices")
    if choices is not None:
        parsed = openai_chat.parse_response(choices)
    else:
        output = resp.get("output")
        content = resp.get("content")
        if type(output) is list:
            parsed = openai_responses.parse_response(output, resp)
        elif type(content) is list:
            parsed = anthropic_messages.parse_response(content, resp)
        elif type(content) is str:
            parsed = ParsedResponse(text=content, reasoning=None, n_tool_calls=0, stop_reason=resp.get("stop_reason"))
        elif flat_response.is_flat(resp):
            parsed = flat_response.parse_response(resp)
        elif resp.get("error") is not None or resp.get("type") == "error" or (
            status is not None and status >= 400
        ):
            return NO_RESPONSE
        else:
            raise RecordError(UNKNOWN_RESPONSE, "response")
    stop = parsed.stop_reason
    if stop is not None and type(stop) is not str:
        raise wrong_type("string", stop, "response.stop_reason")
    return parsed


def usage_tokens(usage: Any, resp: dict[str, Any] | None) -> tuple[int | None, int | None, int | None]:
    """(input, output, reasoning) tokens of the record's ``usage``, else of the response's own ``usage``."""
    if usage is None and resp is not None:
        usage = resp.get("usage")
    if usage is None:
        return None, None, None
    if type(usage) is not dict:
        usage = as_object(usage, "usage")
        if usage is None:
            return None, None, None
    return parse_usage(usage)


# --- public ---------------------------------------------------------------------------


def normalize_exchange(obj: dict[str, Any]) -> dict[str, Any]:
    """Return one row of ``EXCHANGE_SCHEMA`` from a raw exchange record.

    Raises :class:`RecordError` (with the offending field) when the record
    cannot be read: a required field missing or of the wrong type, a bad
    timestamp or IP, or a request / response of no known shape.
    """
    if not isinstance(obj, dict):
        raise RecordError(NOT_OBJECT)
    request_id = required_str(obj, "request_id")
    ts = obj.get("ts")
    if ts is None:
        raise RecordError(MISSING, "ts")
    ts = parse_ts(ts)
    account_id = required_str(obj, "account_id")
    ip = parse_ip(obj.get("ip"))

    status = obj.get("status")
    if status is not None:
        status = optional_int(status, "status", 999)

    req = obj.get("request")
    if type(req) is not dict:
        if req is None:
            raise RecordError(MISSING, "request")
        req = as_object(req, "request")
        if req is None:
            raise RecordError(MISSING, "request")

    model = obj.get("model")
    if type(model) is not str or not model:
        if model is not None and type(model) is not str:
            raise wrong_type("string", model, "model")
        model = req.get("model")
        if type(model) is not str or not model:
            raise RecordError(MISSING, "model")

    endpoint = obj.get("endpoint")
    api_format = None
    if endpoint is not None:
        if type(endpoint) is not str:
            raise wrong_type("string", endpoint, "endpoint")
        api_format = api_format_of(endpoint)
    if api_format is None:
        hint = obj.get("api_format")
        if hint is not None:
            if hint == "anthropic":
                api_format = _ANTHROPIC
            elif hint == "openai":
                api_format = _CHAT  # becomes Responses when the body has ``input``, not ``messages``
            else:
                raise RecordError(f"not one of {', '.join(API_FORMATS)}", "api_format")
    request = parse_request(req, api_format)
    if not endpoint:
        endpoint = request.api_format.path

    resp = obj.get("response")
    if type(resp) is not dict and resp is not None:
        resp = as_object(resp, "response")
    if resp is None:  # a request-only log, or a request that failed before any response
        response = NO_RESPONSE
    else:
        response = parse_response(resp, status)

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
            optional_str(obj, key)  # raises for the first one of the wrong type

    tokens = usage_tokens(obj.get("usage"), resp)

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
        **dict(zip(BODY_FIELDS, body_fields(request, response, tokens), strict=True)),
        "status": status,
        "extra": extra_json(obj, EXCHANGE_INPUT_FIELDS),
    }


BODY_FIELDS: tuple[str, ...] = (
    "api_format", "system", "prompt", "n_messages", "n_user_turns", "n_tool_results", "tool_names", "thinking_budget",
    "reasoning_effort", "response_text", "response_reasoning", "n_tool_calls", "stop_reason", "input_tokens",
    "output_tokens", "reasoning_tokens",
)
"""The exchange fields the API bodies give (:func:`body_fields`)."""


def body_fields(request: ParsedRequest, response: ParsedResponse,
                tokens: tuple[int | None, int | None, int | None]) -> tuple[Any, ...]:
    """The values of :data:`BODY_FIELDS`, in that order, of a parsed request, its response and its token counts
    (:func:`usage_tokens`)."""
    return (PROVIDER[request.api_format], request.system, request.prompt, request.n_messages, request.n_user_turns,
            request.n_tool_results, request.tool_names, request.thinking_budget, request.reasoning_effort,
            response.text, response.reasoning, response.n_tool_calls, response.stop_reason, *tokens)
