"""Stream log files into canonical Arrow batches, with rejects for what cannot be read.

Formats, by suffix: ``.jsonl`` / ``.ndjson`` / ``.json`` (JSON lines; a
``.json`` file holding one JSON array is read element by element),
``.jsonl.gz`` / ``.ndjson.gz`` / ``.json.gz`` (gzip) and ``.parquet`` (nested
``request`` / ``response`` / ``usage`` as Arrow structs or as JSON strings).
Memory stays bounded by ``batch_size`` whatever the file size (except for a
``.json`` array, which is one document). Every record is held to the
:class:`~distillguard.config.settings.IngestLimits` (field sizes, control
characters in ids, nesting depth) before it becomes a row.
"""

from __future__ import annotations

import gzip
import os
import reprlib
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.config.settings import IngestLimits
from distillguard.core.errors import IngestError, RecordError
from distillguard.core.schema import ACCOUNT_SCHEMA, EXCHANGE_SCHEMA
from distillguard.ingest.account import normalize_account
from distillguard.ingest.fields import BROKEN_JSON
from distillguard.ingest.limits import RowCheck, account_check, deep_path, exchange_check, nested_too_deep, too_deep_text
from distillguard.ingest.normalize import normalize_exchange
from distillguard.ingest.rejects import RAW_CHARS, Reject

__all__ = ["FORMATS", "ReadBatch", "file_format", "read_accounts", "read_exchanges"]

NOT_UTF8 = "not valid UTF-8"

#: Suffix → format; the longest matching suffix wins.
FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".jsonl.gz": "jsonl.gz",
    ".ndjson.gz": "jsonl.gz",
    ".json.gz": "jsonl.gz",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_CHUNK = 1 << 22  # bytes read at a time from a JSON-lines file
_BOM = b"\xef\xbb\xbf"
_DUMPS_OPTS = orjson.OPT_NON_STR_KEYS
_DEPTH_EXCEEDED = "depth limit exceeded"  # orjson's message for JSON nested past its 1024 levels
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 8, RAW_CHARS, RAW_CHARS

Normalizer = Callable[[Any], dict[str, Any]]


@dataclass(slots=True)
class ReadBatch:
    """One batch of canonical rows and the rejects met while reading it.

    ``lines_read`` counts every input line consumed (blank, good or rejected;
    Parquet rows for Parquet); ``bytes_read`` the bytes of the file consumed
    (compressed bytes for gzip), so that their sums over a file are its line
    count and its size. ``row_lines`` holds the line (element, row) number of
    each row of ``table``, for rejects found later (a conflicting duplicate).
    """

    table: pa.Table
    rejects: list[Reject]
    lines_read: int
    bytes_read: int
    row_lines: list[int]


def file_format(path: Path) -> str:
    """Return the format of ``path`` from its suffix, or raise :class:`IngestError`."""
    name = path.name.lower()
    best = ""
    for suffix in FORMATS:
        if name.endswith(suffix) and len(suffix) > len(best):
            best = suffix
    if not best:
        known = ", ".join(sorted(FORMATS))
        raise IngestError(f"{path}: unknown file format (expected one of {known})")
    return FORMATS[best]


def read_exchanges(path: Path | str, batch_size: int = 20_000, limits: IngestLimits | None = None) -> Iterator[ReadBatch]:
    """Stream ``path`` as batches of ``EXCHANGE_SCHEMA`` rows plus rejects.

    Raises :class:`IngestError` at once for an unknown suffix or a missing
    file, and while iterating for a file that turns out to be unreadable.
    ``limits`` defaults to :class:`IngestLimits`' defaults.
    """
    limits = limits or IngestLimits()
    return _read(Path(path), batch_size, _checked(normalize_exchange, exchange_check(limits)), EXCHANGE_SCHEMA,
                 limits.max_depth)


def read_accounts(path: Path | str, batch_size: int = 20_000, limits: IngestLimits | None = None) -> Iterator[ReadBatch]:
    """Stream ``path`` as batches of ``ACCOUNT_SCHEMA`` rows plus rejects."""
    limits = limits or IngestLimits()
    return _read(Path(path), batch_size, _checked(normalize_account, account_check(limits)), ACCOUNT_SCHEMA,
                 limits.max_depth)


def _checked(normalize: Normalizer, check: RowCheck) -> Normalizer:
    def checked(obj: Any) -> dict[str, Any]:
        row = normalize(obj)
        check(row)
        return row

    return checked


def _check_depth(obj: Any, max_depth: int) -> None:
    """Raise the depth reject for a decoded record nested past ``max_depth``."""
    path = deep_path(obj, max_depth)
    if path is not None:
        raise RecordError(nested_too_deep(max_depth), path)


def _read(
    path: Path, batch_size: int, normalize: Normalizer, schema: pa.Schema, max_depth: int
) -> Iterator[ReadBatch]:
    if type(batch_size) is not int or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    fmt = file_format(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if not path.is_file():
        raise IngestError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise IngestError(f"{path}: not readable (permission denied)")
    if fmt == "parquet":
        return _read_parquet(path, batch_size, normalize, schema, max_depth)
    return _read_lines(path, fmt, batch_size, normalize, schema, max_depth)


def _to_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build the batch (``from_pylist`` measured ~15% faster than column-wise arrays)."""
    if not rows:
        return schema.empty_table()
    return pa.Table.from_pylist(rows, schema=schema)


def _raw(line: bytes) -> str:
    return line[: RAW_CHARS * 4].decode("utf-8", errors="replace")[:RAW_CHARS].rstrip("\r")


def _reject_unparsable(fname: str, lineno: int, line: bytes, error: Exception, max_depth: int) -> Reject:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return Reject(fname, lineno, None, NOT_UTF8, _raw(line))
    if str(error).startswith(_DEPTH_EXCEEDED):
        path = too_deep_text(line, max_depth)
        if path is not None:
            return Reject(fname, lineno, path, nested_too_deep(max_depth), _raw(line))
    return Reject(fname, lineno, None, BROKEN_JSON, _raw(line))


def _unexpected(fname: str, lineno: int, e: Exception, raw: str) -> Reject:
    # A record that trips an unforeseen case must not stop a run of millions.
    return Reject(fname, lineno, None, f"unreadable record ({type(e).__name__})", raw)


def _read_lines(
    path: Path, fmt: str, batch_size: int, normalize: Normalizer, schema: pa.Schema, max_depth: int
) -> Iterator[ReadBatch]:
    fname = str(path)
    try:
        raw_file = path.open("rb")
    except OSError as e:
        raise IngestError(f"{path}: cannot open: {e.strerror or e}") from e
    with raw_file:
        size = os.fstat(raw_file.fileno()).st_size
        gz = fmt == "jsonl.gz"
        f = gzip.GzipFile(fileobj=raw_file, mode="rb") if gz else raw_file
        if fmt == "json":
            array = _json_array(raw_file, size)
            if array is not None:
                yield from _array_batches(fname, array, size, batch_size, normalize, schema, max_depth)
                return

        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        rows: list[dict[str, Any]] = []
        row_lines: list[int] = []
        rejects: list[Reject] = []
        lineno = 0
        batch_lines = 0
        consumed = 0  # bytes of (uncompressed) lines processed, for plain files
        reported = 0  # bytes already reported in earlier batches
        pending = b""
        first = True
        while True:
            try:
                chunk = f.read(_CHUNK)
            except (OSError, EOFError, zlib.error) as e:
                raise IngestError(f"{path}: unreadable after line {lineno}: {e}") from e
            if first and chunk:
                first = False
                if chunk.startswith(_BOM):
                    chunk = chunk[3:]
                    consumed += 3
            if chunk:
                lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
                pending = lines.pop()
            elif pending:
                lines = [pending]
                pending = b""
            else:
                break
            for line in lines:
                lineno += 1
                batch_lines += 1
                consumed += len(line) + 1
                try:
                    obj = loads(line)
                except decode_error as e:
                    if not line.strip():
                        continue  # blank lines are skipped, not rejected
                    rejects.append(_reject_unparsable(fname, lineno, line, e, max_depth))
                else:
                    try:
                        if line.count(b"{") + line.count(b"[") > max_depth:  # a bound on the depth, at C speed
                            _check_depth(obj, max_depth)
                        rows.append(normalize(obj))
                        row_lines.append(lineno)
                    except RecordError as e:
                        rejects.append(Reject(fname, lineno, e.field, e.reason, _raw(line)))
                    except Exception as e:  # see _unexpected
                        rejects.append(_unexpected(fname, lineno, e, _raw(line)))
                if len(rows) + len(rejects) >= batch_size:
                    pos = raw_file.tell() if gz else consumed
                    pos = min(pos, size)
                    yield ReadBatch(_to_table(rows, schema), rejects, batch_lines, pos - reported, row_lines)
                    reported = pos
                    rows, row_lines, rejects, batch_lines = [], [], [], 0
        if batch_lines or rows or rejects:
            yield ReadBatch(_to_table(rows, schema), rejects, batch_lines, max(size - reported, 0), row_lines)


def _json_array(raw_file: Any, size: int) -> list[Any] | None:
    """The elements of a ``.json`` file that is one JSON array, else ``None`` (JSON lines)."""
    head = raw_file.read(4096)
    raw_file.seek(0)
    if not head.lstrip(_BOM + b" \t\r\n").startswith(b"["):
        return None
    data = raw_file.read()
    raw_file.seek(0)
    try:
        value = orjson.loads(data[3:] if data.startswith(_BOM) else data)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is list else None


def _array_batches(
    fname: str,
    array: list[Any],
    size: int,
    batch_size: int,
    normalize: Normalizer,
    schema: pa.Schema,
    max_depth: int,
) -> Iterator[ReadBatch]:
    total = len(array)
    reported = 0
    for start in range(0, total, batch_size):
        rows: list[dict[str, Any]] = []
        row_lines: list[int] = []
        rejects: list[Reject] = []
        end = min(start + batch_size, total)
        for i in range(start, end):
            obj = array[i]
            try:
                _check_depth(obj, max_depth)
                rows.append(normalize(obj))
                row_lines.append(i + 1)
            except RecordError as e:
                rejects.append(Reject(fname, i + 1, e.field, e.reason, _raw_obj(obj)))
            except Exception as e:
                rejects.append(_unexpected(fname, i + 1, e, _raw_obj(obj)))
        pos = size * end // total
        yield ReadBatch(_to_table(rows, schema), rejects, end - start, pos - reported, row_lines)
        reported = pos


def _raw_obj(obj: Any) -> str:
    try:
        text = orjson.dumps(obj, default=str, option=_DUMPS_OPTS).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = _REPR.repr(obj)  # bounded in depth and length, unlike repr() (a RecursionError on deep nesting)
    return text[:RAW_CHARS]


def _epoch_ms_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Turn zoned timestamp columns into epoch ms (naive ones stay, and are rejected)."""
    changed = False
    arrays = []
    for col in batch.columns:
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64())
            changed = True
        arrays.append(col)
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _read_parquet(
    path: Path, batch_size: int, normalize: Normalizer, schema: pa.Schema, max_depth: int
) -> Iterator[ReadBatch]:
    fname = str(path)
    try:
        pf = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering keeps growing over a long file
    except (OSError, pa.ArrowException) as e:
        raise IngestError(f"{path}: cannot read Parquet: {e}") from e
    with pf:
        total = pf.metadata.num_rows
        size = path.stat().st_size
        done = 0
        reported = 0
        batches = pf.iter_batches(batch_size=batch_size)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (OSError, pa.ArrowException) as e:
                raise IngestError(f"{path}: unreadable after row {done}: {e}") from e
            records = _epoch_ms_columns(batch).to_pylist()
            rows: list[dict[str, Any]] = []
            row_lines: list[int] = []
            rejects: list[Reject] = []
            for i, obj in enumerate(records, done + 1):
                try:
                    _check_depth(obj, max_depth)
                    rows.append(normalize(obj))
                    row_lines.append(i)
                except RecordError as e:
                    rejects.append(Reject(fname, i, e.field, e.reason, _raw_obj(obj)))
                except Exception as e:
                    rejects.append(_unexpected(fname, i, e, _raw_obj(obj)))
            done += len(records)
            pos = size * done // total if total else size
            yield ReadBatch(_to_table(rows, schema), rejects, len(records), pos - reported, row_lines)
            reported = pos
