"""Parquet chunks are row ranges read where they are parsed: the same rows in any order a process asks for them."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.core.errors import IngestError
from distillguard.ingest.readers import ParquetRows, RawChunk, raw_chunks


def _file(path: Path, rows: int, row_group_size: int) -> pa.Table:
    table = pa.table({"n": pa.array(range(rows), pa.int64()),
                      "text": pa.array([None if i % 5 == 0 else f"row {i} " * (i % 7) for i in range(rows)])})
    pq.write_table(table, path, row_group_size=row_group_size)
    return table


def _read(chunk: RawChunk) -> pa.RecordBatch:
    assert chunk.kind == "parquet" and isinstance(chunk.records, ParquetRows)
    return chunk.records.read()


@pytest.mark.parametrize(("rows", "row_group_size", "batch_size"), [(100, 7, 3), (100, 30, 30), (100, 30, 1000), (95, 50, 20)])
def test_chunks_cover_the_file_within_row_groups(tmp_path: Path, rows: int, row_group_size: int, batch_size: int) -> None:
    path = tmp_path / "x.parquet"
    table = _file(path, rows, row_group_size)
    chunks = list(raw_chunks(path, batch_size))
    assert [c.first for c in chunks] == [1 + sum(c.records.count for c in chunks[:i]) for i in range(len(chunks))]
    assert all(0 < c.records.count <= batch_size for c in chunks)
    assert all(c.records.start // row_group_size == (c.records.start + c.records.count - 1) // row_group_size
               for c in chunks)
    assert sum(c.bytes_read for c in chunks) == path.stat().st_size
    assert pa.Table.from_batches([_read(c) for c in chunks]).equals(table)


def test_chunks_read_in_any_order_give_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    table = _file(path, 200, 45)
    chunks = list(raw_chunks(path, 10))
    # as two workers take them (every other chunk), backwards, and one chunk twice
    for order in (chunks[::2] + chunks[1::2], chunks[::-1], [chunks[3], chunks[3], chunks[2]]):
        for c in order:
            want = table.slice(c.records.start, c.records.count)
            assert pa.Table.from_batches([_read(c)]).equals(want)


def test_chunks_of_two_files_interleaved(tmp_path: Path) -> None:
    a, b = _file(tmp_path / "a.parquet", 30, 10), _file(tmp_path / "b.parquet", 40, 15)
    ca, cb = list(raw_chunks(tmp_path / "a.parquet", 4)), list(raw_chunks(tmp_path / "b.parquet", 4))
    for x, y in zip(ca, cb, strict=False):
        assert pa.Table.from_batches([_read(x)]).equals(a.slice(x.records.start, x.records.count))
        assert pa.Table.from_batches([_read(y)]).equals(b.slice(y.records.start, y.records.count))


def test_a_file_that_changed_under_its_chunks_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    _file(path, 100, 10)
    chunks = list(raw_chunks(path, 10))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut short after the chunks were cut
    with pytest.raises(IngestError, match=r"x\.parquet: unreadable after row 90"):
        _read(chunks[-1])
    path.write_bytes(data)
    assert _read(chunks[-1]).num_rows == 10  # read again once it is whole
