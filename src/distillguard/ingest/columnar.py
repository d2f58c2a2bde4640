"""The fast path of exchange ingest: the flat top-level fields of a batch checked column-wise.

Logs almost always carry the canonical flat fields (``request_id``, ``ts``, ``account_id``, ``ip``, ...)
at the top level, with the API bodies (``request``, ``response``, ``usage``) nested. :func:`columnar_rows`
(a Parquet batch) and :func:`line_rows` (JSON lines) check the flat fields as Arrow columns with
``pyarrow.compute`` (required fields, types, ranges, canonical IPv4, id limits, control characters) and
parse only the bodies per record, with the very functions
:func:`~distillguard.ingest.normalize.normalize_exchange` uses. Every row the fast path cannot
vouch for (a field of another type, an IPv6 address it cannot write canonically, a body that does not
parse, a value past a limit, a field not in the schema) is left to the caller's per-record path, which
gives the identical row or names the exact reject; so the two paths agree by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.config.settings import IngestLimits
from distillguard.core.api import ApiFormat, api_format_of
from distillguard.core.errors import RecordError
from distillguard.core.schema import EXCHANGE_SCHEMA
from distillguard.ingest.fields import as_object, parse_ip, parse_ts
from distillguard.ingest.limits import within
from distillguard.ingest.normalize import (
    BODY_FIELDS,
    EXCHANGE_INPUT_FIELDS,
    NO_RESPONSE,
    body_fields,
    parse_request,
    parse_response,
    usage_tokens,
)

__all__ = ["BODIES", "FLAT_STRINGS", "FlatColumns", "columnar_rows", "flat_arrow_columns", "line_rows"]

_MIN_MS = 946_684_800_000  # 2000-01-01T00:00:00Z, as parse_ts
_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z

#: The top-level string fields the fast path takes as columns (``api_format`` is a hint it leaves to the per-record path).
FLAT_STRINGS: tuple[str, ...] = (
    "request_id", "account_id", "api_key_id", "org_id", "ip", "user_agent", "tls_ja4", "model", "endpoint",
)
#: The nested bodies, parsed per record.
BODIES: tuple[str, ...] = ("request", "response", "usage")
_REQUIRED = ("request_id", "account_id", "ip", "model")  # model: when absent, normalize_exchange looks in the request
_ID_FIELDS = ("request_id", "account_id", "api_key_id", "org_id", "tls_ja4", "model")
_CONTROL_IDS = ("request_id", "account_id", "api_key_id", "org_id", "tls_ja4", "model")
_TEXTS = ("system", "prompt", "response_text", "response_reasoning")
_BODY_SCHEMA = pa.schema([EXCHANGE_SCHEMA.field(name) for name in BODY_FIELDS])
_CONTROL = r"[\x00-\x1f\x{7f}-\x{9f}]"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^(?:{_OCTET}\.){{3}}{_OCTET}$"  # exactly the dotted quads parse_ip returns unchanged
_MAX_STATUS = 999
#: ``ts`` text Arrow parses as ``parse_ts`` does: a real clock time, 1-6 fractional digits, a zone of Z or ±hh:mm.
_ISO_TS = (r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
           r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$")
_LINE_FIELDS = EXCHANGE_INPUT_FIELDS - {"api_format"}  # a hint, and any other field (``extra``), go per record
_LINE_FLATS = (*FLAT_STRINGS, "ts", "status")  # a line's flat values, in :func:`_line_columns`' order
_ENDPOINT_AT, _STATUS_AT = _LINE_FLATS.index("endpoint"), _LINE_FLATS.index("status")


@dataclass(slots=True)
class FlatColumns:
    """One batch's top-level fields as the fast path takes them.

    ``strings`` maps each of :data:`FLAT_STRINGS` to a string array (all nulls when absent); ``ts`` is
    epoch ms (int64) or the raw values to parse per record; ``status`` an int64 array; ``bodies`` the
    ``request`` / ``response`` / ``usage`` values per row (objects or JSON text); ``slow`` marks the rows
    already known to need the per-record path; ``nested_depth`` says whether the bodies are decoded
    objects whose depth must be checked.
    """

    strings: dict[str, pa.Array]
    ts: pa.Array | list[Any]
    status: pa.Array
    bodies: tuple[Sequence[Any], Sequence[Any], Sequence[Any]]
    slow: npt.NDArray[np.bool_]
    nested_depth: bool


def _bad(mask: pa.Array) -> npt.NDArray[np.bool_]:
    """A boolean Arrow mask as numpy, nulls counted as set."""
    return np.asarray(mask.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)


def _flat_checks(cols: FlatColumns, limits: IngestLimits) -> npt.NDArray[np.bool_]:
    """Rows whose flat fields the per-record path must read (or reject)."""
    slow = cols.slow.copy()
    s = cols.strings
    for name in _REQUIRED:
        slow |= _bad(pc.equal(pc.utf8_length(s[name]), 0))
    for name in _ID_FIELDS:
        slow |= np.asarray(pc.fill_null(pc.greater(pc.utf8_length(s[name]), limits.max_id_chars), False), dtype=bool)
    for name in _CONTROL_IDS:
        slow |= np.asarray(pc.fill_null(pc.match_substring_regex(s[name], _CONTROL), False), dtype=bool)
    slow |= np.asarray(
        pc.fill_null(pc.greater(pc.utf8_length(s["user_agent"]), limits.max_user_agent_chars), False), dtype=bool)
    if isinstance(cols.status, pa.Array):
        slow |= np.asarray(pc.fill_null(pc.or_(pc.less(cols.status, 0), pc.greater(cols.status, _MAX_STATUS)), False),
                           dtype=bool)
    if isinstance(cols.ts, pa.Array):
        slow |= _bad(pc.or_(pc.less(cols.ts, _MIN_MS), pc.greater_equal(cols.ts, _MAX_MS)))
    return slow


def columnar_rows(cols: FlatColumns, limits: IngestLimits) -> tuple[pa.Table, npt.NDArray[np.bool_]]:
    """The canonical rows of the batch's fast rows, and the mask of the rows left to the per-record path.

    The table holds, in batch order, exactly the rows whose mask entry is false, each as
    :func:`~distillguard.ingest.normalize.normalize_exchange` and the limits check would have made it.
    """
    slow = _flat_checks(cols, limits)
    ts_ms, ips = _canonical(cols, slow)
    endpoints = cols.strings["endpoint"].to_pylist()
    formats: dict[str | None, ApiFormat | None] = {e: (api_format_of(e) if e is not None else None)
                                                   for e in set(endpoints)}
    statuses = cols.status.to_pylist()
    reqs, resps, usages = cols.bodies
    nested_depth = cols.nested_depth
    max_depth = limits.max_depth

    keep: list[int] = []
    out_endpoint: list[str] = []
    bodies: list[tuple[Any, ...]] = []
    for i in np.flatnonzero(~slow).tolist():
        req, resp, usage = reqs[i], resps[i], usages[i]
        try:
            if nested_depth and not within([req, resp, usage], max_depth):  # as the record's own level
                raise RecordError("too deep")
            endpoint = endpoints[i]
            path, fields = _body_row(req, resp, usage, formats[endpoint], statuses[i])
        except Exception:  # the per-record path names the reject (or the unexpected error)
            slow[i] = True
            continue
        keep.append(i)
        out_endpoint.append(endpoint or path)
        bodies.append(fields)
    return _assembled(cols, limits, slow, keep, out_endpoint, bodies, ts_ms, ips), slow


def line_rows(lines: list[bytes], limits: IngestLimits) -> tuple[pa.Table, npt.NDArray[np.bool_]]:
    """The canonical rows of the JSON lines the fast path vouches for, and the mask of the lines left to the
    per-record path (blank ones included: it skips them).

    Each line is decoded and its bodies parsed at once (a chunk of decoded lines held for later outgrows the
    caches), its flat fields kept as plain values; these are then checked column-wise as a Parquet batch's.
    A line that is not an object of the known fields with an ``endpoint`` and ``status`` of their types,
    or whose bodies do not parse, goes to the per-record path whole, which decodes it again and names the
    reject; so, as for Parquet, the rows are those of the per-record path by construction.
    """
    loads = orjson.loads
    known = _LINE_FIELDS
    max_depth = limits.max_depth
    formats: dict[str, ApiFormat | None] = {}
    slow_at: list[int] = []
    at: list[int] = []
    flats: list[tuple[Any, ...]] = []
    paths: list[str] = []
    bodies: list[tuple[Any, ...]] = []
    for i, line in enumerate(lines):
        try:
            obj = loads(line)
            if type(obj) is not dict or not obj.keys() <= known:
                raise RecordError("not a flat record")
            if line.count(b"{") + line.count(b"[") > max_depth and not within(obj, max_depth):
                raise RecordError("too deep")
            flat = tuple(map(obj.get, _LINE_FLATS))
            status = flat[_STATUS_AT]
            if status is not None and (type(status) is not int or not 0 <= status <= _MAX_STATUS):
                raise RecordError("status")
            endpoint = flat[_ENDPOINT_AT]
            if endpoint is None:
                fmt = None
            elif type(endpoint) is not str:
                raise RecordError("endpoint")
            elif endpoint in formats:
                fmt = formats[endpoint]
            else:
                fmt = formats[endpoint] = api_format_of(endpoint)
            path, fields = _body_row(obj.get("request"), obj.get("response"), obj.get("usage"), fmt, status)
        except Exception:  # broken JSON among them: the per-record path names the reject
            slow_at.append(i)
            continue
        at.append(i)
        flats.append(flat)
        paths.append(path)
        bodies.append(fields)
    cols = _line_columns(flats)
    slow_rows = _flat_checks(cols, limits)
    ts_ms, ips = _canonical(cols, slow_rows)
    endpoints = cols.strings["endpoint"].to_pylist()
    keep = np.flatnonzero(~slow_rows).tolist()
    table = _assembled(cols, limits, slow_rows, keep, [endpoints[k] or paths[k] for k in keep],
                       [bodies[k] for k in keep], ts_ms, ips)
    slow = np.zeros(len(lines), dtype=bool)
    slow[np.asarray(slow_at, dtype=np.int64)] = True
    slow[np.asarray(at, dtype=np.int64)[slow_rows]] = True
    return table, slow


def _line_columns(flats: list[tuple[Any, ...]]) -> FlatColumns:
    """:class:`FlatColumns` of the lines' flat values (``FLAT_STRINGS`` in order, then ``ts`` and ``status``);
    a row holding a value of another type in a string field is marked slow."""
    n = len(flats)
    slow = np.zeros(n, dtype=bool)
    values = list(zip(*flats, strict=True)) if flats else [()] * (len(FLAT_STRINGS) + 2)
    strings: dict[str, pa.Array] = {}
    for name, column in zip(FLAT_STRINGS, values[:len(FLAT_STRINGS)], strict=True):
        try:
            strings[name] = pa.array(column, pa.string())
        except (pa.ArrowException, TypeError, ValueError):
            odd = [type(v) is not str and v is not None for v in column]
            slow |= np.asarray(odd, dtype=bool)
            strings[name] = pa.array([None if bad else v for v, bad in zip(column, odd, strict=True)], pa.string())
    return FlatColumns(strings, list(values[-2]), pa.array(values[-1], pa.int64()), ((), (), ()), slow,
                       nested_depth=False)


def _body_row(req: Any, resp: Any, usage: Any, fmt: ApiFormat | None, status: int | None
              ) -> tuple[str, tuple[Any, ...]]:
    """The request format's default path and the body fields of one exchange (raises where the per-record path
    would reject the record or read it otherwise)."""
    if type(req) is not dict:
        req = as_object(req, "request")
        if req is None:
            raise RecordError("no request")
    request = parse_request(req, fmt)
    if type(resp) is not dict and resp is not None:
        resp = as_object(resp, "response")
    response = NO_RESPONSE if resp is None else parse_response(resp, status)
    return request.api_format.path, body_fields(request, response, usage_tokens(usage, resp))


def _canonical(cols: FlatColumns, slow: npt.NDArray[np.bool_]) -> tuple[list[int] | None, list[Any] | None]:
    """Epoch ms of text or mixed ``ts`` values and the canonical text of unusual addresses (None where the columns
    already are); rows whose value ``parse_ts`` or ``parse_ip`` refuses are marked slow. Timestamps of the common
    ISO-8601 shape (:data:`_ISO_TS`) are parsed column-wise by Arrow, the others per record."""
    ts_ms: list[int] | None = None
    if not isinstance(cols.ts, pa.Array):
        iso = _iso_ms(cols.ts)
        ts_ms = iso.fill_null(0).to_pylist()
        parsed = np.asarray(iso.is_valid(), dtype=bool)
        slow |= parsed & np.asarray(pc.fill_null(pc.or_(pc.less(iso, _MIN_MS), pc.greater_equal(iso, _MAX_MS)), False),
                                    dtype=bool)
        for i in np.flatnonzero(~parsed & ~slow).tolist():  # other shapes: parse_ts, its errors to the per-record path
            v = cols.ts[i]
            if v is None:
                slow[i] = True
                continue
            try:
                ts_ms[i] = parse_ts(v)
            except RecordError:
                slow[i] = True
    ip_col = cols.strings["ip"]
    other_ip = ~np.asarray(pc.fill_null(pc.match_substring_regex(ip_col, _IPV4), False), dtype=bool) & ~slow
    ips: list[Any] | None = None
    if other_ip.any():  # IPv6 and unusual IPv4 text: parse_ip's canonical form, per record
        ips = ip_col.to_pylist()
        for i in np.flatnonzero(other_ip).tolist():
            try:
                ips[i] = parse_ip(ips[i])
            except RecordError:
                slow[i] = True
    return ts_ms, ips


def _iso_ms(values: Sequence[Any]) -> pa.Array:
    """Epoch ms of each value of the :data:`_ISO_TS` shape, as ``parse_ts`` gives it; null for the others (and for
    all when one names no real day, which Arrow refuses whole)."""
    texts = pa.array([v if type(v) is str else None for v in values], pa.string())
    shaped = pc.fill_null(pc.match_substring_regex(texts, _ISO_TS), False)
    try:
        micros = pc.cast(pc.if_else(shaped, texts, pa.scalar(None, pa.string())), pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        return pa.nulls(len(texts), pa.int64())
    return pc.divide(micros.cast(pa.int64()), 1000)  # whole ms, as parse_ts truncates (all after 1970)


def _assembled(cols: FlatColumns, limits: IngestLimits, slow: npt.NDArray[np.bool_], keep: list[int],
               out_endpoint: list[str], bodies: list[tuple[Any, ...]], ts_ms: list[int] | None,
               ips: list[Any] | None) -> pa.Table:
    """The table of the ``keep`` rows (their endpoints and body fields given); rows past a limit are dropped from
    it and marked slow."""
    idx = pa.array(keep, pa.int64())
    body = list(zip(*bodies, strict=True)) if bodies else [()] * len(BODY_FIELDS)
    s = cols.strings
    ts = pa.array([ts_ms[i] for i in keep], pa.int64()) if ts_ms is not None else pa.array(cols.ts).take(idx)
    ip = pa.array([ips[i] for i in keep], pa.string()) if ips is not None else s["ip"].take(idx)
    columns: dict[str, pa.Array] = {
        "request_id": s["request_id"].take(idx),
        "ts": ts.cast(EXCHANGE_SCHEMA.field("ts").type),
        "account_id": s["account_id"].take(idx),
        "api_key_id": s["api_key_id"].take(idx),
        "org_id": s["org_id"].take(idx),
        "ip": ip,
        "user_agent": s["user_agent"].take(idx),
        "tls_ja4": s["tls_ja4"].take(idx),
        "model": s["model"].take(idx),
        "endpoint": pa.array(out_endpoint, pa.string()),
        **{f.name: pa.array(values, f.type) for f, values in zip(_BODY_SCHEMA, body, strict=True)},
        "status": cols.status.take(idx).cast(pa.int32()),
        "extra": pa.nulls(len(keep), pa.string()),
    }
    table = pa.Table.from_arrays([columns[f.name] for f in EXCHANGE_SCHEMA], schema=EXCHANGE_SCHEMA)
    over = _over_limits(table, limits)
    if over.any():
        slow[np.asarray(keep)[over]] = True
        table = table.filter(pa.array(~over))
    return table


def _over_limits(table: pa.Table, limits: IngestLimits) -> npt.NDArray[np.bool_]:
    """Rows of built fast rows past a limit on a field the bodies gave (the per-record path names which)."""
    n = table.num_rows
    over = np.zeros(n, dtype=bool)
    for name in _TEXTS:
        over |= np.asarray(pc.fill_null(pc.greater(pc.utf8_length(table.column(name)), limits.max_text_chars), False),
                           dtype=bool)
    over |= np.asarray(pc.greater(pc.utf8_length(table.column("endpoint")), limits.max_id_chars), dtype=bool)
    tools = table.column("tool_names").combine_chunks()
    flat = pc.list_flatten(tools)
    if len(flat):
        long = np.asarray(pc.greater(pc.utf8_length(flat), limits.max_id_chars), dtype=bool)
        if long.any():
            parents = np.asarray(pc.list_parent_indices(tools))
            over[parents[long]] = True
    return over


def flat_arrow_columns(batch: pa.RecordBatch) -> FlatColumns | None:
    """:class:`FlatColumns` of a Parquet record batch, or None when its columns are not of the flat shape."""
    names = set(batch.schema.names)
    n = batch.num_rows
    slow = np.zeros(n, dtype=bool)
    if "request" not in names or "ts" not in names:
        return None
    for name in names - EXCHANGE_INPUT_FIELDS | ({"api_format"} & names):
        slow |= ~np.asarray(batch.column(name).is_null(), dtype=bool)  # ``extra`` or a hint: per record
    strings: dict[str, pa.Array] = {}
    for name in FLAT_STRINGS:
        if name not in names:
            strings[name] = pa.nulls(n, pa.string())
            continue
        col = batch.column(name)
        if pa.types.is_null(col.type) or pa.types.is_large_string(col.type) or pa.types.is_string(col.type):
            strings[name] = col.cast(pa.string())
        else:
            return None
    ts_col = batch.column("ts")
    ts: pa.Array | list[Any]
    if pa.types.is_timestamp(ts_col.type):
        if ts_col.type.tz is None:
            return None
        ts = ts_col.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64())
    elif pa.types.is_integer(ts_col.type):
        ts = ts_col.cast(pa.int64())
    elif pa.types.is_string(ts_col.type) or pa.types.is_large_string(ts_col.type):
        ts = ts_col.to_pylist()
    else:
        return None
    if "status" in names:
        status_col = batch.column("status")
        if not (pa.types.is_integer(status_col.type) or pa.types.is_null(status_col.type)):
            return None
        status = status_col.cast(pa.int64())
    else:
        status = pa.nulls(n, pa.int64())
    nested = False
    bodies: list[list[Any]] = []
    for name in BODIES:
        if name not in names:
            bodies.append([None] * n)
            continue
        col = batch.column(name)
        text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        nested |= not (text or pa.types.is_null(col.type))
        bodies.append(_utf8_views(col) if text else col.to_pylist())
    return FlatColumns(strings, ts, status, (bodies[0], bodies[1], bodies[2]), slow, nested_depth=nested)


def _utf8_views(col: pa.Array) -> list[memoryview | None]:
    """Each value of a string column as a view of its UTF-8 bytes, None where null: JSON is decoded from the
    column's own buffer, without a Python string of each body first (on ``large``, about 2 of the 8-9 CPU µs a
    row that making strings of its bodies and decoding them took)."""
    _, offsets, data = col.buffers()
    n = len(col)
    at = np.frombuffer(offsets, np.int64 if pa.types.is_large_string(col.type) else np.int32)[col.offset:col.offset + n + 1]
    view = memoryview(data if data is not None else b"")
    bounds = at.tolist()
    out: list[memoryview | None] = [view[bounds[i]:bounds[i + 1]] for i in range(n)]
    if col.null_count:
        for i in np.flatnonzero(np.asarray(col.is_null(), dtype=bool)).tolist():
            out[i] = None
    return out
