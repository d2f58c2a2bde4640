"""The column-wise fast path (Parquet, JSON lines) gives the very rows, rejects and row numbers of the per-record
path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.config.settings import IngestLimits
from distillguard.core.errors import RecordError
from distillguard.ingest import columnar, read_exchanges
from distillguard.ingest.columnar import columnar_rows, flat_arrow_columns, line_rows
from distillguard.ingest.fields import parse_ts

from .records import ODD_VALUES, chat_exchange, exchange, responses_exchange

LIMITS = IngestLimits(max_id_chars=32, max_user_agent_chars=64, max_text_chars=1000, max_depth=24)

def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


MIXED: list[Any] = [
    exchange(request_id="a1"),
    chat_exchange(request_id="a2", ts=1_772_443_200_000, org_id="org_9"),
    responses_exchange(request_id="a3", ts="2026-03-02T10:00:00+02:00"),
    exchange(request_id="a4", ip="2001:0db8::0:42"),  # IPv6 written canonically
    exchange(request_id="a5", ip="::ffff:198.51.100.7"),  # IPv4-mapped: plain IPv4
    exchange(request_id="a6", ip=" 198.51.100.7"),  # the slow path of parse_ip
    exchange(request_id="a7", ip="300.1.2.3"),
    exchange(request_id="a8", model=...),  # model from the request
    exchange(request_id="a9", model=""),
    exchange(request_id="b1", endpoint=...),  # the format from the body
    exchange(request_id="b2", endpoint=""),
    exchange(request_id="b3", endpoint="/proxy/v1/messages?beta=1"),
    exchange(request_id="b4", endpoint=..., api_format="anthropic"),  # a hint: per record
    exchange(request_id="b5", region="eu"),  # extra
    exchange(request_id="b6", region=None),
    exchange(request_id="b7", status=True),
    exchange(request_id="b8", status=1000),
    exchange(request_id="b9", status=200.0),
    exchange(request_id="c1", ts="2026-03-02T09:15:02"),  # no zone
    exchange(request_id="c2", ts=946_684_799_999),  # before 2000
    exchange(request_id="c3", ts="1772442902114"),
    exchange(request_id="c4", account_id=7),
    exchange(request_id="c5", account_id=""),
    exchange(request_id="c6", account_id=...),
    exchange(request_id="c7", account_id="acct\x00x"),  # control character
    exchange(request_id="c8", account_id="a" * 33),  # over max_id_chars
    exchange(request_id="c9", user_agent="u" * 65),
    exchange(request_id="d1", request={"system": "s" * 1001, "messages": [{"role": "user", "content": "hi"}]}),
    exchange(request_id="d2", request={"messages": [{"role": "user", "content": "hi"}],
                                        "tools": [{"name": "t" * 33, "input_schema": {}}]}),
    exchange(request_id="d3", request={"prompt": "hi"}),  # unknown request shape
    exchange(request_id="d4", response={"odd": 1}),
    exchange(request_id="d5", response=..., status=500, usage=...),
    exchange(request_id="d6", request=...),
    exchange(request_id="d7", request=[1]),
    exchange(request_id="d8", usage={"input_tokens": -1}),
    exchange(request_id="d9", request={"messages": [{"role": "user", "content": _nested(30)}]}),
    exchange(request_id="e1", tls_ja4="t13\x85"),  # a C1 control character
    exchange(request_id="e2", org_id=5),
    exchange(request_id="a1", account_id="again"),  # a repeated id is the store's business, not the reader's
    [1, 2, 3],
    "text",
]


def _both(path: Path, batch_size: int) -> list[list[Any]]:
    out = []
    for column_wise in (True, False):
        batches = list(read_exchanges(path, batch_size, LIMITS, columnar=column_wise))
        out.append([(b.table, b.rejects, b.lines_read, b.bytes_read, b.row_lines) for b in batches])
    return out


def _assert_same(fast: list[Any], slow: list[Any]) -> None:
    assert len(fast) == len(slow)
    for (t1, r1, l1, b1, rl1), (t2, r2, l2, b2, rl2) in zip(fast, slow, strict=True):
        assert t1.schema == t2.schema
        assert t1.to_pylist() == t2.to_pylist()
        assert (r1, l1, b1, rl1) == (r2, l2, b2, rl2)


class _Text(str):
    """A body written to its column as it is (not as JSON): empty or broken text."""


def _parquet_json_columns(path: Path, records: list[dict[str, Any]], body_type: pa.DataType = pa.string()) -> Path:
    nested = ("request", "response", "usage")
    keys = sorted({k for r in records for k in r})
    columns = {k: [orjson.dumps(r[k]).decode() if k in nested and r.get(k) is not None and type(r[k]) is not _Text
                   else r.get(k) for r in records] for k in keys}
    columns["ts"] = [str(v) if v is not None else None for v in columns["ts"]]
    types = {k: (pa.int64() if k == "status" else body_type if k in nested else pa.string()) for k in keys}
    pq.write_table(pa.table({k: pa.array(v, types[k]) for k, v in columns.items()}), path, row_group_size=7)
    return path


def _typed(records: list[Any]) -> list[dict[str, Any]]:
    """The records a Parquet file with one type per column can hold."""
    out = []
    for r in records:
        if type(r) is not dict or any(type(r.get(k)) not in (str, type(None)) for k in ("account_id", "org_id", "tls_ja4")):
            continue
        if r.get("status") is not None and type(r["status"]) is not int:
            continue
        out.append(r)
    return out


@pytest.mark.parametrize(("batch_size", "body_type"), [(3, pa.string()), (1000, pa.string()), (3, pa.large_string())])
def test_mixed_parquet_json_columns_same_rows_and_rejects(tmp_path: Path, batch_size: int, body_type: pa.DataType
                                                          ) -> None:
    """Bodies as JSON text (``string`` or ``large_string``; null, empty, broken, deep), in batches that slice row
    groups of 7: the fast path decodes them from the column's buffer, the per-record path from Python strings."""
    records = _typed(MIXED) + [exchange(request_id="e3", usage=_Text("")),
                                exchange(request_id="e4", response=_Text("{"))]
    path = _parquet_json_columns(tmp_path / "mixed.parquet", records, body_type)
    fast, slow = _both(path, batch_size)
    _assert_same(fast, slow)
    rejects = [r for _, rs, *_ in fast for r in rs]
    assert len(rejects) > 10, [r.describe() for r in rejects]
    assert {r.field for r in rejects} >= {"ip", "ts", "account_id", "system", "request.tools", "status", "tls_ja4",
                                          "usage", "response"}
    flat = flat_arrow_columns(pq.read_table(path).to_batches()[0])
    assert flat is not None
    assert (~columnar_rows(flat, LIMITS)[1]).sum() >= 5  # the fast path takes the plain rows


def test_parquet_timestamp_and_struct_columns_same_rows(tmp_path: Path) -> None:
    records = [exchange(request_id=f"s{i}", request={"messages": [{"role": "user", "content": f"q{i}"}]},
                        ip="2001:db8::1" if i % 3 else "198.51.100.7") for i in range(10)]
    records[4]["request"]["messages"][0]["content"] = "x" * 1001
    table = pa.Table.from_pylist(records)
    ts = pa.array([1_772_443_200_000 + i for i in range(10)], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    ts = ts.cast(pa.timestamp("us", tz="Europe/Lisbon"))
    table = table.set_column(table.schema.get_field_index("ts"), "ts", ts)
    path = tmp_path / "struct.parquet"
    pq.write_table(table, path, row_group_size=4)
    fast, slow = _both(path, 3)
    _assert_same(fast, slow)
    assert sum(t.num_rows for t, *_ in fast) == 9


def test_odd_values_in_every_flat_field_same_rows_and_rejects(tmp_path: Path) -> None:
    fields = ("request_id", "ts", "account_id", "api_key_id", "org_id", "ip", "user_agent", "tls_ja4", "model",
              "endpoint", "api_format", "status", "request", "response", "usage")
    written = 0
    for name in fields:
        by_type: dict[type, list[Any]] = {}
        for value in ODD_VALUES:
            by_type.setdefault(type(value), []).append(value)
        for kind, values in by_type.items():
            records = [exchange(**{"request_id": f"{name}{i}", name: v}) for i, v in enumerate(values)]
            records.append(exchange(request_id=f"{name}-plain"))
            if kind is dict or name in ("request", "response", "usage"):
                records = [{k: (orjson.dumps(v).decode() if k in ("request", "response", "usage") and v is not None
                                and k != name else v) for k, v in r.items()} for r in records]
            try:
                table = pa.Table.from_pylist(records)
                path = tmp_path / f"{name}-{kind.__name__}.parquet"
                pq.write_table(table, path)
            except (pa.ArrowException, ValueError):
                continue  # a column Parquet cannot hold
            fast, slow = _both(path, 3)
            _assert_same(fast, slow)
            written += 1
    assert written > 40


def test_the_fast_path_takes_the_common_shapes() -> None:
    records = [exchange(request_id="f1"), chat_exchange(request_id="f2"), responses_exchange(request_id="f3"),
               exchange(request_id="f4", ip="2001:db8::0:1")]
    batch = pa.RecordBatch.from_pylist([{**r, "request": orjson.dumps(r["request"]).decode(),
                                         "response": orjson.dumps(r.get("response")).decode(), "usage": None,
                                         "ts": 1_772_443_200_000} for r in records])
    flat = flat_arrow_columns(batch)
    assert flat is not None
    table, slow = columnar_rows(flat, IngestLimits())
    assert not slow.any()
    assert table.column("ip").to_pylist()[3] == "2001:db8::1"
    assert flat_arrow_columns(batch.drop_columns(["request"])) is None


def test_bodies_as_json_text_nest_to_the_decoders_limit(tmp_path: Path) -> None:
    """``max_depth`` bounds decoded records; a body held as JSON text in Parquet is bounded by the decoder alone."""
    deep = exchange(request_id="g1", request={"messages": [{"role": "user", "content": _nested(30)}]})
    text = '{"messages": [{"role": "user", "content": ' + "[" * 1100 + '"x"' + "]" * 1100 + "}]}"
    path = _parquet_json_columns(tmp_path / "text.parquet", [deep, exchange(request_id="g2", request=_Text(text))])
    (batch,) = list(read_exchanges(path, 10, LIMITS))
    assert batch.table.column("request_id").to_pylist() == ["g1"]
    assert [(r.field, r.reason) for r in batch.rejects] == [("request", "broken JSON")]
    lines = tmp_path / "deep.jsonl"
    lines.write_bytes(orjson.dumps(deep) + b"\n")
    (batch,) = list(read_exchanges(lines, 10, LIMITS))
    assert batch.table.num_rows == 0
    assert [r.reason for r in batch.rejects] == ["nested deeper than 24 levels"]


def _json_lines(path: Path, records: list[Any], extra: list[bytes] = ()) -> Path:
    lines = [orjson.dumps(r) for r in records] + list(extra)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("batch_size", [3, 1000])
def test_mixed_json_lines_same_rows_and_rejects(tmp_path: Path, batch_size: int) -> None:
    """Every record of MIXED, plus lines no record makes: blank, whitespace, broken, not UTF-8, CRLF, deep text,
    and bodies as JSON text, as JSON lines: the fast path's rows, rejects and line numbers are the per-record
    path's."""
    odd_lines = [b"", b"   ", b"{broken", b'{"request_id": "\xff"}',
                 orjson.dumps(exchange(request_id="f1")) + b"\r", b"[" * 40 + b"]" * 40,
                 orjson.dumps({**exchange(request_id="f2"), "request": orjson.dumps(exchange()["request"]).decode()}),
                 orjson.dumps({**exchange(request_id="f3"), "response": "{"}),
                 orjson.dumps(exchange(request_id="f4", status=2**64 - 1, ts=2**64 - 1))]
    path = _json_lines(tmp_path / "mixed.jsonl", MIXED, odd_lines)
    fast, slow = _both(path, batch_size)
    _assert_same(fast, slow)
    rejects = [r for _, rs, *_ in fast for r in rs]
    assert {r.reason for r in rejects} >= {"broken JSON", "not valid UTF-8", "nested deeper than 24 levels"}
    assert {r.field for r in rejects} >= {"ip", "ts", "account_id", "system", "request.tools", "status", "tls_ja4",
                                          "response", "org_id"}
    table, mask = line_rows(path.read_bytes().split(b"\n"), LIMITS)
    assert table.num_rows >= 10 and mask.sum() > 20  # the fast path takes the plain lines and leaves the others


def test_odd_values_in_every_field_of_json_lines_same_rows_and_rejects(tmp_path: Path) -> None:
    fields = ("request_id", "ts", "account_id", "api_key_id", "org_id", "ip", "user_agent", "tls_ja4", "model",
              "endpoint", "api_format", "status", "request", "response", "usage")
    records = [exchange(**{"request_id": f"{name}{i}", name: v}) for name in fields for i, v in enumerate(ODD_VALUES)]
    path = _json_lines(tmp_path / "odd.jsonl", records + [exchange(request_id="plain")])
    fast, slow = _both(path, 7)
    _assert_same(fast, slow)
    assert sum(len(rs) for _, rs, *_ in fast) > 100


_FLAT = st.one_of(st.none(), st.text(max_size=40), st.integers(-2, 2**63), st.booleans(), st.floats(allow_nan=False),
                  st.sampled_from(["2026-03-02T10:00:00Z", "1772442902114", "198.51.100.7", "::ffff:10.0.0.1",
                                   "/v1/messages", "/v1/chat/completions", "/v1/responses", "atlas-2-pro"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["request_id", "ts", "account_id", "ip", "model", "endpoint", "status",
                                                 "org_id", "user_agent", "region"]), _FLAT, max_size=4),
                max_size=6))
def test_json_lines_fast_path_agrees_on_drawn_records(tmp_path: Path, changes: list[dict[str, Any]]) -> None:
    """Plain records with drawn values in their flat fields: the two paths agree line for line."""
    records = [{**exchange(request_id=f"h{i}"), **change} for i, change in enumerate(changes)]
    path = _json_lines(tmp_path / "drawn.jsonl", records)
    fast, slow = _both(path, 4)
    _assert_same(fast, slow)


_ISO_LIKE = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
    st.sampled_from([1999, 2000, 2024, 2026, 2099, 2100]), st.integers(0, 13), st.integers(0, 32),
    st.sampled_from(["T", " ", "t"]), st.integers(0, 24), st.integers(0, 60), st.integers(0, 61),
    st.sampled_from(["", ".1", ".12", ".123", ".1234", ".12345", ".123456", ".1234567", ".", ","]),
    st.sampled_from(["Z", "z", "", "+00:00", "-05:30", "+14:00", "+23:59", "+24:00", "+0530", "-00:00", "+5:00"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ISO_LIKE, min_size=1, max_size=5))
def test_timestamps_parsed_column_wise_are_parse_ts_s(values: list[str]) -> None:
    """Every text timestamp Arrow parses column-wise is the one ``parse_ts`` gives, or one it refuses as out of
    range (a row the fast path leaves to the per-record path); the rest are left per record."""
    for value, ms in zip(values, columnar._iso_ms(values).to_pylist(), strict=True):
        if ms is None:
            continue
        try:
            assert parse_ts(value) == ms
        except RecordError:
            assert not columnar._MIN_MS <= ms < columnar._MAX_MS


def test_text_timestamps_of_every_shape_in_one_batch_same_rows(tmp_path: Path) -> None:
    stamps = ["2026-03-02T10:00:00Z", "2026-02-30T10:00:00Z", "2026-03-02 10:00:00+01:00", "1999-12-31T23:59:59Z",
              "2026-03-02T10:00:00.1234567Z", "1772442902114", "2026-03-02T10:00:00", "2026-03-02T10:00:00.5-03:00"]
    records = [exchange(request_id=f"t{i}", ts=ts) for i, ts in enumerate(stamps)]
    for path in (_json_lines(tmp_path / "ts.jsonl", records), _parquet_json_columns(tmp_path / "ts.parquet", records)):
        fast, slow = _both(path, 4)
        _assert_same(fast, slow)
