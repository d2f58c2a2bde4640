"""Exchange writers (JSONL, gzipped JSONL, Parquet) behind a time-sorted buffer.

Records arrive roughly in time order; :meth:`ExchangeWriter.flush_until` writes
every buffered record older than a bound, sorted by ``ts``, so memory holds
only the records of the current time slice (plus sessions spilling past it).
"""

from __future__ import annotations

import bisect
import gzip
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.core.errors import ConfigError
from distillguard.core.schema import EXCHANGE_SCHEMA
from distillguard.sim.scenario import LogFields

FORMATS: tuple[str, ...] = ("jsonl", "jsonl.gz", "parquet")

PARQUET_SCHEMA = pa.schema(
    [
        EXCHANGE_SCHEMA.field(name)
        for name in ("request_id", "ts", "account_id", "api_key_id", "org_id", "ip", "user_agent", "tls_ja4",
                     "model", "endpoint")
    ]
    + [
        pa.field("request", pa.string(), nullable=False),
        pa.field("response", pa.string()),
        pa.field("usage", pa.string()),
        EXCHANGE_SCHEMA.field("status"),
    ]
)
"""Parquet layout: plain columns, with ``request``, ``response`` and ``usage`` as JSON text."""

_LINE_BREAKS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))
_HEAD = ("request_id", "account_id", "api_key_id", "org_id", "ip", "user_agent", "tls_ja4", "model", "endpoint")


def exchanges_path(out_dir: Path, fmt: str) -> Path:
    """The exchange file name for ``fmt``."""
    if fmt not in FORMATS:
        raise ConfigError(f"fmt: unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return out_dir / f"exchanges.{fmt}"


class ExchangeWriter:
    """Buffers records, then writes them in ``ts`` order (ties: arrival order)."""

    def __init__(self, path: Path, fmt: str, row_group_size: int = 100_000, log: LogFields | None = None) -> None:
        self.path = path
        self.fmt = fmt
        self.log = log if log is not None and log != LogFields() else None
        self.written = 0
        self._buf: list[tuple[int, int, Any]] = []
        self._seq = 0
        self._batches: list[pa.RecordBatch] = []
        self._batched = 0
        self._row_group = row_group_size
        self._fh: IO[bytes] | None = None
        self._raw: IO[bytes] | None = None
        self._pq: pq.ParquetWriter | None = None
        if fmt == "parquet":
            self._pq = pq.ParquetWriter(str(path), PARQUET_SCHEMA, compression="zstd")
        elif fmt == "jsonl.gz":
            self._raw = path.open("wb")
            self._fh = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=5, mtime=0)
        else:
            self._fh = path.open("wb", buffering=1 << 20)

    def add(self, ts_ms: int, head: dict[str, Any], request: bytes, response: bytes, usage: bytes, status: int) -> None:
        """Buffer one record (encoded now, so the buffer stays compact), without the fields the logs lack."""
        if self.log is not None:
            self._add_partial(ts_ms, head, request, response, usage, status, self.log)
            return
        if self._pq is not None:
            item: Any = (
                *(head.get(k) for k in _HEAD),
                request.decode(),
                response.decode(),
                None if usage == b"null" else usage.decode(),
                status,
            )
        else:
            item = b"".join(
                (
                    orjson.dumps(head)[:-1],
                    b',"request":',
                    request,
                    b',"response":',
                    response,
                    b',"usage":',
                    usage,
                    b',"status":%d}\n' % status,
                )
            )
        self._buf.append((ts_ms, self._seq, item))
        self._seq += 1

    def _add_partial(self, ts_ms: int, head: dict[str, Any], request: bytes, response: bytes, usage: bytes,
                     status: int, log: LogFields) -> None:
        """A record of incomplete logs: fields the logs lack are absent (null in Parquet)."""
        if not log.tls:
            head.pop("tls_ja4", None)
        kept_response = response if log.responses else None
        kept_usage = usage if log.usage and usage != b"null" else None
        if self._pq is not None:
            item: Any = (
                *(head.get(k) for k in _HEAD),
                request.decode(),
                None if kept_response is None else kept_response.decode(),
                None if kept_usage is None else kept_usage.decode(),
                status,
            )
        else:
            parts = [orjson.dumps(head)[:-1], b',"request":', request]
            if kept_response is not None:
                parts += [b',"response":', kept_response]
            if kept_usage is not None:
                parts += [b',"usage":', kept_usage]
            parts.append(b',"status":%d}\n' % status)
            item = b"".join(parts)
        self._buf.append((ts_ms, self._seq, item))
        self._seq += 1

    def flush_until(self, bound_ms: int | None) -> int:
        """Write every buffered record with ``ts < bound_ms`` (all when ``None``); return how many."""
        self._buf.sort()
        cut = len(self._buf) if bound_ms is None else bisect.bisect_left(self._buf, (bound_ms,))
        if not cut:
            return 0
        ready, self._buf = self._buf[:cut], self._buf[cut:]
        if self._fh is not None:
            data = b"".join(item for _, _, item in ready)
            for raw, escaped in _LINE_BREAKS:  # JSON allows them raw, but splitlines() and some tools break on them
                data = data.replace(raw, escaped)
            self._fh.write(data)
            self.written += len(data)
        else:
            ts = [t for t, _, _ in ready]
            rest = list(zip(*(item for _, _, item in ready)))
            cols = [rest[0], ts, *rest[1:]]  # items are (request_id, account_id, ...): ts goes second
            arrays = [pa.array(col, type=f.type) for col, f in zip(cols, PARQUET_SCHEMA)]
            self._batches.append(pa.RecordBatch.from_arrays(arrays, schema=PARQUET_SCHEMA))
            self._batched += cut
            if self._batched >= self._row_group:
                self._write_batches()
        return cut

    def _write_batches(self) -> None:
        if self._batches and self._pq is not None:
            self._pq.write_table(pa.Table.from_batches(self._batches, schema=PARQUET_SCHEMA))
        self._batches, self._batched = [], 0

    def close(self) -> int:
        """Write what is left and close; return bytes on disk."""
        self.flush_until(None)
        if self._pq is not None:
            self._write_batches()
            self._pq.close()
        if self._fh is not None:
            self._fh.close()
        if self._raw is not None:
            self._raw.close()
        return self.path.stat().st_size
