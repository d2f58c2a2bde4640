"""Structure-aware fuzzing of the log readers and the SSE reasoning transformers.

Each target takes a :class:`random.Random` and runs one case: valid seeds (the ingest test records, the
gateway's response shapes) are mutated at the JSON level (values of every type put anywhere, keys dropped
or added, deep nesting, long and control-character strings) and at the byte level (flips, cuts, stray
newlines, invalid UTF-8), then read or streamed. A case passes when:

* readers: nothing but :class:`IngestError` escapes; every record is a row or a reject with a line in the
  file; no record reaches the catch-all ("unreadable record (...)"), which would be a normaliser bug;
* normalisers: a record gives a row or raises :class:`RecordError`, nothing else;
* stream transformers and ``transform_json``: no exception, bytes out, for any chunking.

The same targets run under hypothesis in CI (``test_fuzz.py``) and a million times in ``bench/fuzz.py``.
"""

from __future__ import annotations

import copy
import gzip
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from gwshapes import STREAMS, WHOLE, sse

from distillguard.core.api import ApiFormat
from distillguard.core.errors import IngestError, RecordError
from distillguard.core.schema import ACCOUNT_SCHEMA, EXCHANGE_SCHEMA
from distillguard.gateway.reasoning import Degradation, ReasoningTransform, stream_transformer, transform_json
from distillguard.gateway.summarize import ExtractiveSummarizer
from distillguard.ingest import normalize_account, normalize_exchange, read_accounts, read_exchanges
from ingest.records import account, chat_exchange, exchange, responses_exchange

Target = Callable[[random.Random, Path], None]

_SEEDS: list[dict[str, Any]] = [
    exchange(),
    chat_exchange(),
    responses_exchange(),
    exchange(response=..., usage=...),
    chat_exchange(api_format="openai", endpoint=...),
    exchange(ts=1_772_442_902_114, ip="2001:db8::1", org_id="org", tls_ja4="t13d1516h2_8daaf6152771_e5627efa2ab1"),
]
_ACCOUNT_SEEDS: list[dict[str, Any]] = [account(), account(email="Ann@Lab.example.edu", email_domain=...)]
_STRINGS = ["", "x", " ", "\x00", "a\x00b", "\x1b[31m", "\u2028", "\ud7ff", "é", "🙂", "<think>", "</think>", "<thi",
            "2026-03-02T09:15:02Z", "2026-03-02T09:15:02", "1772442902114", "::ffff:1.2.3.4", "fe80::1%eth0",
            "01.2.3.4", "null", "{", "[1]", '{"a": 1}', "anthropic", "openai", "/v1/messages", "/v1/responses",
            "/v1/chat/completions", "text", "thinking", "tool_use", "input_text", "output_text", "reasoning", "user",
            "assistant", "system", "developer", "tool", "function", "message"]
_KEYS = ["request_id", "ts", "account_id", "ip", "model", "endpoint", "api_format", "status", "request", "response",
         "usage", "messages", "input", "content", "role", "type", "text", "choices", "message", "delta", "output",
         "tools", "name", "function", "thinking", "reasoning", "reasoning_content", "index", "stop_reason",
         "input_tokens", "output_tokens", "prompt_tokens", "cache_read_input_tokens", "budget_tokens", "effort",
         "summary", "instructions", "system", "tool_calls", "created_at", "email", "category", "verification", "x"]
_STRIP = ReasoningTransform(Degradation.STRIP, ExtractiveSummarizer())
_SUMMARIZE = ReasoningTransform(Degradation.SUMMARIZE, ExtractiveSummarizer())
_APIS = {"anthropic": ApiFormat.ANTHROPIC, "chat": ApiFormat.CHAT, "responses": ApiFormat.RESPONSES}


class Finding(AssertionError):
    """A case that broke a target's contract."""


# --- JSON-level mutation ----------------------------------------------------------------------


def _value(r: random.Random, depth: int = 0) -> Any:
    k = r.randrange(16)
    if k == 0:
        return None
    if k == 1:
        return r.choice([True, False])
    if k == 2:
        return r.choice([0, -1, 1, 2**31, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30 if r.random() < 0.5 else -(10**30)])
    if k == 3:
        return r.choice([0.0, -0.0, 1.5, 1e308, -1e-308, 1772442902114.0, 2.5e12])
    if k <= 7:
        return r.choice(_STRINGS)
    if k == 8:
        return "".join(chr(r.randrange(0, 0x3000)) for _ in range(r.randrange(1, 12))).replace("\ud800", "")
    if k == 9:
        return r.choice(_STRINGS) * r.choice([50, 300, 3000])
    if k == 10:
        return _deep(r.randrange(2, 300))
    if depth >= 3:
        return r.choice(_STRINGS)
    if k <= 12:
        return [_value(r, depth + 1) for _ in range(r.randrange(4))]
    return {r.choice(_KEYS): _value(r, depth + 1) for _ in range(r.randrange(4))}


def _deep(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"content": value}
    return value


def _containers(doc: Any) -> list[Any]:
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        if type(node) is dict or type(node) is list:
            out.append(node)
            if len(out) > 120:
                break
            stack.extend(node.values() if type(node) is dict else node)
    return out


def mutate(r: random.Random, doc: Any, times: int | None = None) -> Any:
    """``doc`` (a deep copy) with 1 to 4 random JSON-level changes."""
    try:
        doc = orjson.loads(orjson.dumps(doc))  # a deep copy of a seed, several times faster than copy.deepcopy
    except (TypeError, orjson.JSONDecodeError):
        doc = copy.deepcopy(doc)
    for _ in range(times if times is not None else r.randrange(1, 5)):
        nodes = _containers(doc)
        if not nodes:
            return _value(r)
        node = r.choice(nodes)
        op = r.randrange(5)
        if type(node) is dict:
            if node and op < 3:
                key = r.choice(list(node))
                if op == 0:
                    del node[key]
                else:
                    node[key] = _value(r)
            else:
                node[r.choice(_KEYS)] = _value(r)
        elif node:
            i = r.randrange(len(node))
            if op == 0:
                del node[i]
            elif op == 1:
                node.insert(i, copy.deepcopy(node[i]))
            else:
                node[i] = _value(r)
        else:
            node.append(_value(r))
    return doc


def _dumps(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:  # deeper than orjson writes, or an integer it cannot: written by hand
        if isinstance(doc, dict):
            return b"{" + b",".join(orjson.dumps(str(k)) + b":" + _dumps(v) for k, v in doc.items()) + b"}"
        if isinstance(doc, list):
            return b"[" + b",".join(_dumps(v) for v in doc) + b"]"
        return str(doc).encode() if isinstance(doc, int) else b"null"


def mangle(r: random.Random, data: bytes) -> bytes:
    """``data`` with a few random byte-level changes."""
    b = bytearray(data)
    for _ in range(r.randrange(1, 4)):
        op = r.randrange(6)
        at = r.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(at, len(b) - 1)] = r.randrange(256)
        elif op == 1:
            b[at:at] = r.choice([b"\xff", b"\xc3", b"\x00", b"\r", b'"', b"\\", b"{", b"]", b"\xef\xbb\xbf"])
        elif op == 2:
            del b[at : at + r.randrange(1, 40)]
        elif op == 3:
            b = b[:at]
        elif op == 4:
            b[at:at] = b"\n"
        else:
            b[at:at] = b[max(0, at - 30) : at]
    return bytes(b)


def _record(r: random.Random, seeds: list[dict[str, Any]]) -> Any:
    seed = r.choice(seeds)
    return seed if r.random() < 0.1 else mutate(r, seed)


# --- targets ------------------------------------------------------------------------------


def _lines(r: random.Random, seeds: list[dict[str, Any]]) -> bytes:
    out = []
    for _ in range(r.randrange(1, 6)):
        line = _dumps(_record(r, seeds))
        if r.random() < 0.3:
            line = mangle(r, line)
        out.append(line)
        if r.random() < 0.1:
            out.append(r.choice([b"", b"  ", b"\r"]))
    data = b"\n".join(out) + (b"\n" if r.random() < 0.8 else b"")
    return (b"\xef\xbb\xbf" + data) if r.random() < 0.05 else data


def _check_batches(batches: list[Any], schema: pa.Schema, n_lines: int) -> None:
    for b in batches:
        if b.table.schema != schema:
            raise Finding(f"batch schema {b.table.schema} is not the canonical one")
        if len(b.row_lines) != b.table.num_rows:
            raise Finding("row_lines does not match the rows")
        for reject in b.rejects:
            if not 1 <= reject.line <= max(n_lines, 1):
                raise Finding(f"reject at line {reject.line} of {n_lines}")
            if reject.reason.startswith("unreadable record"):
                raise Finding(f"a record reached the catch-all: {reject.describe()} {reject.raw[:200]!r}")
    if sum(b.table.num_rows + len(b.rejects) for b in batches) > max(n_lines, 1):
        raise Finding("more rows and rejects than lines")


def _read_all(reader: Callable[..., Any], path: Path, batch_size: int) -> list[Any]:
    try:
        return list(reader(path, batch_size))
    except IngestError:
        return []


def fuzz_jsonl(r: random.Random, tmp: Path) -> None:
    """JSON lines (plain or gzip) of mutated exchange or account records."""
    accounts = r.random() < 0.25
    data = _lines(r, _ACCOUNT_SEEDS if accounts else _SEEDS)
    gz = r.random() < 0.1
    path = tmp / ("case.jsonl.gz" if gz else "case.jsonl")
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    reader = read_accounts if accounts else read_exchanges
    batches = _read_all(reader, path, r.choice([1, 2, 3, 20_000]))
    _check_batches(batches, ACCOUNT_SCHEMA if accounts else EXCHANGE_SCHEMA, data.count(b"\n") + 1)


def fuzz_json_array(r: random.Random, tmp: Path) -> None:
    """A ``.json`` array of mutated records (sometimes broken, which reads it as JSON lines)."""
    items = [_record(r, _SEEDS) for _ in range(r.randrange(1, 5))]
    data = b"[" + b",\n".join(_dumps(i) for i in items) + b"]"
    if r.random() < 0.2:
        data = mangle(r, data)
    path = tmp / "case.json"
    path.write_bytes(data)
    batches = _read_all(read_exchanges, path, r.choice([1, 2, 20_000]))
    _check_batches(batches, EXCHANGE_SCHEMA, max(len(items), data.count(b"\n") + 1))


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return pa.array([None if v is None else _dumps(v).decode("utf-8", "replace") for v in values], pa.string())


def fuzz_parquet(r: random.Random, tmp: Path) -> None:
    """Parquet of mutated records: a column of one type as it is, else as JSON strings."""
    records = [_record(r, _SEEDS) for _ in range(r.randrange(1, 5))]
    rows = [x if type(x) is dict else {"value": x} for x in records]
    keys = sorted({k for row in rows for k in row})
    try:
        table = pa.table({k: _column([row.get(k) for row in rows]) for k in keys})
        path = tmp / "case.parquet"
        pq.write_table(table, path)
    except (pa.ArrowException, OSError, ValueError):
        return  # not writable as Parquet: not a case for the reader
    batches = _read_all(read_exchanges, path, r.choice([1, 2, 20_000]))
    _check_batches(batches, EXCHANGE_SCHEMA, len(rows))


def fuzz_normalize(r: random.Random, tmp: Path) -> None:
    """The normalisers on mutated records: a row or a RecordError, nothing else."""
    accounts = r.random() < 0.25
    obj = _record(r, _ACCOUNT_SEEDS if accounts else _SEEDS)
    try:
        obj = orjson.loads(_dumps(obj))  # the reader's view of the record
    except orjson.JSONDecodeError:
        return
    try:
        row = (normalize_account if accounts else normalize_exchange)(obj)
    except RecordError:
        return
    except Exception as e:
        raise Finding(f"{type(e).__name__}: {e} on {_dumps(obj)[:300]!r}") from e
    try:
        pa.Table.from_pylist([row], schema=ACCOUNT_SCHEMA if accounts else EXCHANGE_SCHEMA)
    except (pa.ArrowException, OverflowError) as e:
        raise Finding(f"row does not fit the schema: {e} on {_dumps(obj)[:300]!r}") from e


def _chunks(r: random.Random, body: bytes) -> list[bytes]:
    out, i = [], 0
    small = r.random() < 0.15  # 1-7 byte chunks: the hardest case for the parsers, and the slowest
    while i < len(body):
        n = r.randrange(1, 8) if small else r.randrange(1, 400)
        out.append(body[i : i + n])
        i += n
    return out


def fuzz_sse(r: random.Random, tmp: Path) -> None:
    """A mutated SSE stream of one API through its stream transformer, in random chunks."""
    name = r.choice(list(STREAMS))
    events: list[Any] = list(STREAMS[name]())
    for _ in range(r.randrange(0, 4)):
        if not events:
            break
        i = r.randrange(len(events))
        op = r.randrange(4)
        if op == 0:
            del events[i]
        elif op == 1:
            events.insert(i, events[r.randrange(len(events))])
        else:
            ev, data = events[i]
            events[i] = (ev if r.random() < 0.8 else r.choice([None, "x", "message_stop", "error"]),
                         mutate(r, data) if isinstance(data, dict) else _value(r))
    body = sse([(ev, d if isinstance(d, (dict, str)) else _dumps(d).decode()) for ev, d in events],
               newline=r.choice(["\n", "\r\n", "\r"]))
    if r.random() < 0.2:
        body = mangle(r, body)
    stream = stream_transformer(_APIS[name], r.choice([_STRIP, _SUMMARIZE]))
    try:
        out = [stream.feed(c) for c in _chunks(r, body)] + [stream.close()]
    except Exception as e:
        raise Finding(f"{name} stream: {type(e).__name__}: {e} on {body[:400]!r}") from e
    if not all(type(o) is bytes for o in out):
        raise Finding("a stream transformer returned something other than bytes")


def fuzz_whole(r: random.Random, tmp: Path) -> None:
    """A mutated whole response body of one API through ``transform_json``."""
    name = r.choice(list(WHOLE))
    body = _dumps(mutate(r, WHOLE[name]()))
    if r.random() < 0.2:
        body = mangle(r, body)
    try:
        out, status = transform_json(_APIS[name], body, r.choice([_STRIP, _SUMMARIZE]))
    except Exception as e:
        raise Finding(f"{name} body: {type(e).__name__}: {e} on {body[:400]!r}") from e
    if type(out) is not bytes or status not in (None, 502):
        raise Finding(f"transform_json returned {type(out).__name__} with status {status!r}")


#: Target → share of the cases (Parquet cases write a file through Arrow: slower, fewer).
TARGETS: dict[str, tuple[Target, float]] = {
    "normalize": (fuzz_normalize, 0.50),
    "jsonl": (fuzz_jsonl, 0.15),
    "json_array": (fuzz_json_array, 0.06),
    "parquet": (fuzz_parquet, 0.01),
    "sse": (fuzz_sse, 0.13),
    "whole_body": (fuzz_whole, 0.15),
}

