"""Parquet files of several row groups are cut into row-group parts: the same chunks, rows and rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.ingest import read_exchanges, readers
from distillguard.ingest.readers import ParquetPart, RawChunk, raw_chunks, work_items

from .records import chat_exchange, exchange, read_items


def _records(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        shape = exchange if i % 2 else chat_exchange
        rec = shape(request_id=f"r{i}", account_id=f"a{i % 5}")
        if i % 9 == 4:
            rec["ip"] = "not an ip"  # a reject, in several row groups
        out.append(rec)
    return out


def _write(path: Path, records: list[dict[str, Any]], row_group_size: int) -> Path:
    nested = ("request", "response", "usage")
    rows = [{k: (orjson.dumps(v).decode() if k in nested and v is not None else v) for k, v in r.items()}
            for r in records]
    table = pa.Table.from_pylist(rows)
    ts = pa.array([r["ts"] for r in records], pa.string())
    table = table.set_column(table.schema.get_field_index("ts"), "ts", ts)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_row_groups_become_parts_with_the_rows_and_rejects_of_the_whole_file(tmp_path: Path) -> None:
    records = _records(60)
    path = _write(tmp_path / "many.parquet", records, row_group_size=7)
    items = list(work_items(path, batch_size=10))
    assert all(isinstance(i, ParquetPart) for i in items)
    parts = [i for i in items if isinstance(i, ParquetPart)]
    assert [(p.start, p.stop) for p in parts] == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 9)]  # 14 rows each, then 4
    assert [p.done for p in parts] == [0, 14, 28, 42, 56]
    one = _write(tmp_path / "one.parquet", records, row_group_size=100)
    rows, rejects, lines, read, size = read_items(items)
    whole = read_items(work_items(one, batch_size=10))
    assert rows == whole[0] and len(rows) == 53
    assert rejects == whole[1] == [(i + 1, "ip", "invalid IP address") for i in range(4, 60, 9)]
    assert lines == whole[2]
    assert read == 60 and size == path.stat().st_size
    assert read_items(raw_chunks(path, batch_size=10)) == (rows, rejects, lines, read, size)
    assert rows == [row for batch in read_exchanges(path, 10) for row in batch.table.to_pylist()]


def test_a_part_decodes_only_its_own_row_groups(tmp_path: Path) -> None:
    path = _write(tmp_path / "many.parquet", _records(40), row_group_size=10)
    part = [i for i in work_items(path, batch_size=4) if isinstance(i, ParquetPart)][2]
    chunks = list(part.chunks())
    assert [c.first for c in chunks] == [21, 25, 29]
    assert sum(c.records.num_rows for c in chunks if isinstance(c.records, pa.RecordBatch)) == 10


@pytest.mark.parametrize("row_group_size, big", [(100, False), (7, True)], ids=["one row group", "row groups too big"])
def test_files_parts_cannot_serve_are_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row_group_size: int,
                                               big: bool) -> None:
    if big:
        monkeypatch.setattr(readers, "PART_MAX_ROWS", 6)
    path = _write(tmp_path / "log.parquet", _records(30), row_group_size=row_group_size)
    items = list(work_items(path, batch_size=4))
    assert all(isinstance(i, RawChunk) for i in items)
    assert [i.first for i in items if isinstance(i, RawChunk)] == list(range(1, 31, 4))
