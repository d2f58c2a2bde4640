"""read_exchanges / read_accounts over every format, batching, rejects and unreadable files."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.core.errors import IngestError
from distillguard.core.schema import ACCOUNT_SCHEMA, EXCHANGE_SCHEMA
from distillguard.ingest import ReadBatch, normalize_exchange, read_accounts, read_exchanges

from .records import account, chat_exchange, exchange, responses_exchange

RECORDS: list[dict[str, Any]] = [
    exchange(request_id="r1"),
    chat_exchange(request_id="r2", ts=1_772_443_200_000, org_id="org_9"),
    responses_exchange(request_id="r3", ts="2026-03-02T10:00:00+02:00"),
    exchange(
        request_id="r4",
        ip="2001:0db8::0:42",
        response={"text": "ok", "reasoning": None, "tool_calls": None, "stop_reason": "end_turn"},
    ),
    exchange(request_id="r5", response=..., status=500, usage=..., region="eu"),
]
EXPECTED = [normalize_exchange(r) for r in RECORDS]


def _jsonl(records: list[Any]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_bytes(_jsonl(records))
    return path


def _write_gz(path: Path, records: list[Any]) -> Path:
    path.write_bytes(gzip.compress(_jsonl(records)))
    return path


def _write_json_array(path: Path, records: list[Any]) -> Path:
    path.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
    return path


def _write_parquet_json_columns(path: Path, records: list[dict[str, Any]]) -> Path:
    nested = ("request", "response", "usage")
    rows = [{k: (orjson.dumps(v).decode() if k in nested and v is not None else v) for k, v in r.items()} for r in records]
    keys = sorted({k for r in rows for k in r})
    columns: dict[str, list[Any]] = {k: [r.get(k) for r in rows] for k in keys}
    # ts mixes strings and ints in the fixtures: store it as text, as a lax writer would
    columns["ts"] = [str(v) for v in columns["ts"]]
    pq.write_table(pa.table(columns), path)
    return path


def _write_parquet_struct_columns(path: Path, records: list[dict[str, Any]]) -> Path:
    # Arrow structs need one type per field across rows: keep the shapes that fit one schema
    # (string message content, per-format column sets) and write the ts as a zoned timestamp.
    rows = []
    for r in records:
        r = dict(r)
        r["ts"] = normalize_exchange(r)["ts"]
        rows.append(r)
    table = pa.Table.from_pylist(rows)
    ts = pa.array([r["ts"] for r in rows], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    table = table.set_column(table.schema.get_field_index("ts"), "ts", ts)
    pq.write_table(table, path, row_group_size=2)
    return path


def _collect(batches: Any) -> tuple[list[dict[str, Any]], list[Any], list[ReadBatch]]:
    batches = list(batches)
    rows: list[dict[str, Any]] = []
    rejects = []
    for b in batches:
        assert b.table.schema == EXCHANGE_SCHEMA or b.table.schema == ACCOUNT_SCHEMA
        rows.extend(b.table.to_pylist())
        rejects.extend(b.rejects)
    return rows, rejects, batches


def _canonical(rows: list[dict[str, Any]], schema: pa.Schema) -> list[dict[str, Any]]:
    return pa.Table.from_pylist(rows, schema=schema).to_pylist()


WRITERS: dict[str, tuple[str, Callable[[Path, list[Any]], Path]]] = {
    "jsonl": ("log.jsonl", _write_jsonl),
    "ndjson": ("log.ndjson", _write_jsonl),
    "json lines": ("log.json", _write_jsonl),
    "json array": ("log.json", _write_json_array),
    "jsonl.gz": ("log.jsonl.gz", _write_gz),
    "parquet json columns": ("log.parquet", _write_parquet_json_columns),
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_format_reads_the_same_rows(tmp_path: Path, fmt: str) -> None:
    name, write = WRITERS[fmt]
    rows, rejects, _ = _collect(read_exchanges(write(tmp_path / name, RECORDS)))
    assert rejects == []
    assert rows == _canonical(EXPECTED, EXCHANGE_SCHEMA)


def test_parquet_struct_columns(tmp_path: Path) -> None:
    records = [
        exchange(request_id="a1", request={"system": "S", "messages": [{"role": "user", "content": "one"}]}),
        exchange(
            request_id="a2",
            request={
                "system": "T",
                "messages": [
                    {"role": "user", "content": "two"},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": "three"},
                ],
            },
        ),
        exchange(
            request_id="a3",
            request={"system": None, "messages": [{"role": "user", "content": "four"}]},
            response=None,
            status=503,
        ),
    ]
    path = _write_parquet_struct_columns(tmp_path / "log.parquet", records)
    assert pa.types.is_struct(pq.read_schema(path).field("request").type)
    rows, rejects, batches = _collect(read_exchanges(path, batch_size=2))
    assert rejects == []
    assert [b.table.num_rows for b in batches] == [2, 1]
    assert rows == _canonical([normalize_exchange(r) for r in records], EXCHANGE_SCHEMA)
    assert [r["prompt"] for r in rows] == ["one", "three", "four"]


def test_parquet_chat_struct_columns_with_null_filled_keys(tmp_path: Path) -> None:
    # Struct columns unify keys across rows: absent keys come back as None and must not matter.
    records = [
        chat_exchange(request_id="c1"),
        chat_exchange(
            request_id="c2",
            endpoint=None,
            request={"messages": [{"role": "user", "content": "hi", "name": None}], "reasoning_effort": None},
        ),
    ]
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    rows, rejects, _ = _collect(read_exchanges(path))
    assert rejects == []
    assert [(r["api_format"], r["prompt"], r["endpoint"]) for r in rows] == [
        ("openai", "Name a prime.", "/v1/chat/completions"),
        ("openai", "hi", "/v1/chat/completions"),
    ]


def test_parquet_naive_timestamp_column_is_rejected_with_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "naive.parquet"
    table = pa.Table.from_pylist([dict(exchange(request_id=f"n{i}"), ts=None) for i in range(3)])
    naive = pa.array([1_772_443_200_000] * 3, pa.int64()).cast(pa.timestamp("ms"))
    table = table.set_column(table.schema.get_field_index("ts"), "ts", naive)
    pq.write_table(table, path)
    rows, rejects, batches = _collect(read_exchanges(path, batch_size=2))
    assert [len(b.rejects) for b in batches] == [2, 1]
    assert rows == []
    assert [(r.line, r.field, r.reason) for r in rejects] == [(i, "ts", "bad timestamp: no time zone") for i in (1, 2, 3)]
    assert '"request_id":"n0"' in rejects[0].raw


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_batching_and_progress_counters(tmp_path: Path, fmt: str) -> None:
    name, write = WRITERS[fmt]
    path = write(tmp_path / name, RECORDS)
    _, _, batches = _collect(read_exchanges(path, batch_size=2))
    assert [b.table.num_rows for b in batches] == [2, 2, 1]
    assert sum(b.lines_read for b in batches) == len(RECORDS)
    assert sum(b.bytes_read for b in batches) == path.stat().st_size
    assert all(b.bytes_read >= 0 for b in batches)


def test_parquet_progress_counters(tmp_path: Path) -> None:
    path = _write_parquet_json_columns(tmp_path / "log.parquet", RECORDS)
    _, _, batches = _collect(read_exchanges(path, batch_size=2))
    assert sum(b.lines_read for b in batches) == len(RECORDS)
    assert sum(b.bytes_read for b in batches) == path.stat().st_size


# --- rejects: the run goes on, each reject names file, line and field ----------------------

NON_UTF8 = b'{"request_id": "r\xff\xfe", "ts": 1}'
BAD_LINES: list[tuple[bytes, str | None, str]] = [
    (b'{"request_id": "r1", "ts": ', None, "broken JSON"),
    (b"[1, 2, 3]", None, "not a JSON object"),
    (orjson.dumps(exchange(account_id=...)), "account_id", "missing required field"),
    (orjson.dumps(exchange(account_id=7)), "account_id", "expected string, got int"),
    (orjson.dumps(exchange(ts="2026-03-02T09:15:02")), "ts", "bad timestamp: no time zone"),
    (orjson.dumps(exchange(ip="300.1.2.3")), "ip", "invalid IP address"),
    (NON_UTF8, None, "not valid UTF-8"),
    (orjson.dumps(exchange(request={"prompt": "hi"})), "request", "unknown request shape"),
]


@pytest.mark.parametrize("gz", [False, True], ids=["jsonl", "jsonl.gz"])
def test_bad_lines_become_rejects_and_the_run_goes_on(tmp_path: Path, gz: bool) -> None:
    good = orjson.dumps(exchange())
    lines = [good, b"", b"   "]
    for bad, _, _ in BAD_LINES:
        lines += [bad, good]
    data = b"\r\n".join(lines) + b"\r\n"
    path = tmp_path / ("bad.jsonl.gz" if gz else "bad.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    rows, rejects, batches = _collect(read_exchanges(path, batch_size=3))
    assert len(rows) == 1 + len(BAD_LINES)
    first_bad = 4  # after the good line and two blank lines
    expected = [(str(path), first_bad + 2 * i, field, reason) for i, (_, field, reason) in enumerate(BAD_LINES)]
    assert [(r.file, r.line, r.field, r.reason) for r in rejects] == expected
    assert sum(b.lines_read for b in batches) == len(lines)
    assert rejects[0].raw == '{"request_id": "r1", "ts": '
    assert rejects[6].raw == '{"request_id": "r\ufffd\ufffd", "ts": 1}'


def test_a_file_of_garbage_still_comes_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"not json\n" * 10)
    _, rejects, batches = _collect(read_exchanges(path, batch_size=4))
    assert [len(b.rejects) for b in batches] == [4, 4, 2]
    assert [r.line for r in rejects] == list(range(1, 11))


def test_reject_raw_is_truncated(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "long.jsonl", [exchange(account_id=1, pad="é" * 2000)])
    (reject,) = _collect(read_exchanges(path))[1]
    assert len(reject.raw) == 500
    assert reject.raw.startswith('{"request_id":"req_1"')


def test_byte_order_mark_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(exchange(request_id="a")) + b"\n" + orjson.dumps(exchange(request_id="b")))
    rows, rejects, batches = _collect(read_exchanges(path))
    assert rejects == [] and [r["request_id"] for r in rows] == ["a", "b"]
    assert sum(b.bytes_read for b in batches) == path.stat().st_size


def test_blank_file_and_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert list(read_exchanges(empty)) == []
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n\n  \n")
    (batch,) = list(read_exchanges(blank))
    assert batch.table.num_rows == 0 and batch.rejects == [] and batch.lines_read == 3
    assert batch.table.schema == EXCHANGE_SCHEMA


def test_json_array_rejects_use_element_numbers(tmp_path: Path) -> None:
    path = _write_json_array(tmp_path / "arr.json", [exchange(), exchange(ip="x"), 5])
    rows, rejects, _ = _collect(read_exchanges(path))
    assert len(rows) == 1
    assert [(r.line, r.field, r.reason) for r in rejects] == [(2, "ip", "invalid IP address"), (3, None, "not a JSON object")]


# --- unreadable files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["log.csv", "log.txt", "log", "log.gz"])
def test_unknown_suffix_is_an_ingest_error_naming_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("{}")
    with pytest.raises(IngestError, match=name):
        read_exchanges(path)


@pytest.mark.parametrize("reader", [read_exchanges, read_accounts])
def test_missing_file_is_an_ingest_error_naming_it(tmp_path: Path, reader: Any) -> None:
    with pytest.raises(IngestError, match="nope.jsonl"):
        reader(tmp_path / "nope.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(IngestError, match="dir.jsonl: not a regular file"):
        reader(tmp_path / "dir.jsonl")


def test_corrupt_parquet_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 definitely not parquet")
    with pytest.raises(IngestError, match="bad.parquet"):
        list(read_exchanges(path))


def test_truncated_gzip_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(_jsonl(RECORDS * 50))[:-40])
    with pytest.raises(IngestError, match="cut.jsonl.gz"):
        list(read_exchanges(path))


def test_bad_batch_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        read_exchanges(_write_jsonl(tmp_path / "a.jsonl", RECORDS), batch_size=0)


# --- accounts ------------------------------------------------------------------------------

ACCOUNTS = [account(account_id="a1"), account(account_id="a2", email="x@Example.com", email_domain=...), {"account_id": "a3"}]


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "json array"])
def test_read_accounts(tmp_path: Path, fmt: str) -> None:
    name, write = WRITERS[fmt]
    lines = [*ACCOUNTS, account(account_id="a4", category="alien")]
    rows, rejects, _ = _collect(read_accounts(write(tmp_path / name, lines)))
    assert [r["account_id"] for r in rows] == ["a1", "a2", "a3"]
    assert rows[1]["email_domain"] == "example.com" and rows[1]["email_local"] == "x"
    assert [(r.line, r.field) for r in rejects] == [(4, "category")]


def test_read_accounts_parquet(tmp_path: Path) -> None:
    path = tmp_path / "accounts.parquet"
    table = pa.Table.from_pylist(ACCOUNTS)
    ts = pa.array([1_762_077_600_000, None, None], pa.int64()).cast(pa.timestamp("ms", tz="Europe/Lisbon"))
    ts = ts.cast(pa.timestamp("us", tz="Europe/Lisbon"))
    table = table.set_column(table.schema.get_field_index("created_at"), "created_at", ts)
    pq.write_table(table, path)
    rows, rejects, _ = _collect(read_accounts(path))
    assert rejects == []
    assert [r["account_id"] for r in rows] == ["a1", "a2", "a3"]
    assert rows[0]["created_at"] is not None and rows[0]["created_at"].timestamp() * 1000 == 1_762_077_600_000
