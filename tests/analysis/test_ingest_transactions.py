"""The ingest's store transactions: whole DuckDB row groups, batches cut between them keeping their lines."""

import importlib
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from distillguard.analysis.ingest import ingest
from distillguard.config.settings import IngestLimits
from distillguard.ingest import RejectSink, readers
from distillguard.store import Store
from ingest.records import exchange

ingest_mod = importlib.import_module("distillguard.analysis.ingest")


def _records() -> list[dict[str, Any]]:
    records = [exchange(request_id=f"r{i}", account_id=f"a{i % 3}") for i in range(17)]
    records[9] = exchange(request_id="r2", account_id="mallory")  # line 10 repeats r2 with other content
    records[13] = exchange(request_id="r5", account_id="a2")  # line 14 repeats r5 exactly
    return records


def _ingest(tmp_path: Path, name: str, tail: bytes = b"", workers: int = 0
            ) -> tuple[list[int], Any, list[dict[str, Any]], list[str], int]:
    log = tmp_path / "a.jsonl"
    log.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _records()) + tail)
    sizes: list[int] = []
    real = Store.ingest_batch

    def spy(self: Store, exchanges: pa.Table, *args: Any, **kwargs: Any) -> Any:
        sizes.append(exchanges.num_rows)
        return real(self, exchanges, *args, **kwargs)

    advanced: list[int] = []
    with pytest.MonkeyPatch.context() as mp, Store(tmp_path / f"{name}.duckdb") as store, \
            RejectSink(tmp_path / f"{name}.rejects.jsonl") as sink:
        mp.setattr(Store, "ingest_batch", spy)
        counts = ingest(store, [log], [], sink, batch_size=3, keep_text=True, limits=IngestLimits(),
                        advance=advanced.append, workers=workers)
        ids = sorted(store.query("SELECT request_id FROM exchanges").column("request_id").to_pylist(), key=lambda r: int(r[1:]))
    rejects = [orjson.loads(line) for line in (tmp_path / f"{name}.rejects.jsonl").read_bytes().splitlines()]
    assert sum(advanced) == log.stat().st_size
    return sizes, counts, rejects, ids, log.stat().st_size


@pytest.mark.parametrize(("row_group", "store_bytes", "expected"), [
    (4, 1 << 30, [4, 4, 4, 4, 1]),  # batches of 3 rows cut into whole row groups, the rest at the file's end
    (5, 1 << 30, [5, 5, 5, 2]),
    (1 << 30, 1, [3, 3, 3, 3, 3, 2]),  # every queued batch once the queue holds enough bytes
])
def test_transactions_hold_whole_row_groups_and_a_cut_batch_keeps_its_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row_group: int, store_bytes: int, expected: list[int]) -> None:
    monkeypatch.setattr(ingest_mod, "ROW_GROUP", row_group)
    monkeypatch.setattr(ingest_mod, "STORE_BYTES", store_bytes)
    sizes, counts, rejects, ids, size = _ingest(tmp_path, "cut")
    assert sizes == expected
    assert ids == [f"r{i}" for i in range(17) if i not in (9, 13)]
    assert (counts.lines, counts.bytes, counts.new, counts.duplicates, counts.rejected) == (17, size, 15, 1, 1)
    assert [(r["line"], r["raw"]) for r in rejects] == [(10, "r2")]


def test_batches_of_rejects_only_are_counted_after_the_last_row_group(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_mod, "ROW_GROUP", 4)
    sizes, counts, rejects, ids, size = _ingest(tmp_path, "tail", b"{not json\n" * 7)
    assert sizes == [4, 4, 4, 3, 2, 0, 0]  # a batch with read rejects stores the queue first, then waits for the next
    assert ids == [f"r{i}" for i in range(17) if i not in (9, 13)]
    assert (counts.lines, counts.bytes, counts.new, counts.rejected) == (24, size, 15, 8)
    assert [r["line"] for r in rejects] == [10, *range(18, 25)]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_log_cut_into_line_parts_is_stored_as_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           workers: int) -> None:
    """Parts of two or three lines, read here or by two worker processes: the same rows, and the rejects on the
    file's own lines (line 10 repeating line 3's id, broken lines at the end)."""
    monkeypatch.setattr(readers, "LINE_PART_BYTES", 2 * len(orjson.dumps(_records()[0])))
    _, counts, rejects, ids, size = _ingest(tmp_path, "parts", b"{not json\n" * 7, workers=workers)
    assert ids == [f"r{i}" for i in range(17) if i not in (9, 13)]
    assert (counts.lines, counts.bytes, counts.new, counts.rejected) == (24, size, 15, 8)
    assert [r["line"] for r in rejects] == [10, *range(18, 25)]


def test_duckdb_fills_row_groups_of_the_size_the_writer_cuts_at(tmp_path: Path) -> None:
    """The writer's :data:`ROW_GROUP` is DuckDB's: a transaction of that many rows leaves one whole row group."""
    con = duckdb.connect(str(tmp_path / "g.duckdb"))
    con.execute("CREATE TABLE t (i BIGINT)")
    con.execute(f"INSERT INTO t SELECT range FROM range({2 * ingest_mod.ROW_GROUP + 5})")
    con.execute("CHECKPOINT")
    groups = con.execute("SELECT row_group_id, max(count) FROM pragma_storage_info('t') GROUP BY ALL ORDER BY 1").fetchall()
    con.close()
    assert [n for _, n in groups] == [ingest_mod.ROW_GROUP, ingest_mod.ROW_GROUP, 5]
