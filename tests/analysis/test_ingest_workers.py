"""Ingest in worker processes stores what ingest in one process does: rows, signals, counts and rejects."""

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.analysis.ingest import ingest
from distillguard.ingest import RejectSink
from distillguard.store import Store
from ingest.records import chat_exchange, exchange, responses_exchange


def _records(n: int) -> list[Any]:
    out: list[Any] = []
    for i in range(n):
        shape = (exchange, chat_exchange, responses_exchange)[i % 3]
        out.append(shape(request_id=f"r{i}", account_id=f"a{i % 11}", ip=f"198.51.100.{i % 250}",
                         request={"messages": [{"role": "user", "content": f"question {i} step by step"}]}
                         if shape is exchange else shape()["request"]))
        if i % 37 == 5:
            out.append(exchange(request_id=f"r{i - 3}", account_id="other"))  # a conflicting repeat
        if i % 41 == 7:
            out.append(exchange(request_id=f"bad{i}", ip="not an ip"))
        if i % 43 == 9:
            out.append(out[-2])  # an exact repeat
    return out


def _ingest(tmp_path: Path, name: str, log: Path, workers: int, batch_size: int) -> tuple[Any, ...]:
    rejects = tmp_path / f"{name}.rejects.jsonl"
    threads_seen: list[int] = []
    real = Store.ingest_batch

    def spy(self: Store, *args: Any, **kwargs: Any) -> Any:
        threads_seen.append(int(self.query("SELECT current_setting('threads') AS n").column("n")[0].as_py()))
        return real(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp, Store(tmp_path / f"{name}.duckdb", threads=2) as store, \
            RejectSink(rejects) as sink:
        mp.setattr(Store, "ingest_batch", spy)
        counts = ingest(store, [log], [], sink, batch_size=batch_size, keep_text=False, workers=workers)
        assert set(threads_seen) == ({1} if workers else {2})  # one thread beside the workers, then back
        assert store.query("SELECT current_setting('threads') AS n").column("n")[0].as_py() == 2
        exchanges = store.query("SELECT * FROM exchanges ORDER BY rid").to_pylist()
        signals = store.query("SELECT * FROM signals ORDER BY rid").to_pylist()
    summary = (counts.lines, counts.new, counts.duplicates, counts.rejected, counts.bytes, counts.rejects_by_reason)
    return summary, exchanges, signals, rejects.read_bytes()


@pytest.mark.parametrize("batch_size", [16])
def test_workers_store_the_same_as_one_process(tmp_path: Path, batch_size: int) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _records(400)))
    inline = _ingest(tmp_path, "inline", log, 0, batch_size)
    pooled = _ingest(tmp_path, "pooled", log, 2, batch_size)
    assert inline[0] == pooled[0]
    assert inline[0][1] > 350 and inline[0][2] > 0 and inline[0][3] > 10
    assert inline[1] == pooled[1]
    assert inline[2] == pooled[2]
    assert inline[3] == pooled[3]
    assert b"duplicate request_id with other content" in inline[3]


def _write_parquet(path: Path, records: list[Any], row_group_size: int) -> Path:
    nested = ("request", "response", "usage")
    rows = [{k: (orjson.dumps(v).decode() if k in nested and v is not None else v) for k, v in r.items()}
            for r in records]
    table = pa.Table.from_pylist(rows)
    table = table.set_column(table.schema.get_field_index("ts"), "ts", pa.array([str(r["ts"]) for r in records]))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_parquet_row_group_parts_store_the_same_with_any_worker_count(tmp_path: Path) -> None:
    records = _records(300)
    parts = _write_parquet(tmp_path / "parts" / "log.parquet", records, row_group_size=23)
    streamed = _write_parquet(tmp_path / "streamed" / "log.parquet", records, row_group_size=len(records))
    runs = {w: _ingest(tmp_path, f"parts{w}", parts, w, 16) for w in (0, 1, 2)}
    whole = _ingest(tmp_path, "streamed", streamed, 2, 16)
    for run in runs.values():
        assert run[0] == runs[0][0]
        assert run[1:] == runs[0][1:]
    assert runs[0][0][4] == parts.stat().st_size
    assert runs[0][0][:4] == whole[0][:4] and runs[0][0][5] == whole[0][5]
    assert runs[0][1:3] == whole[1:3]
    # the same rejects (each batch's read rejects come before its conflicts, and batches end at row groups here)
    assert sorted(runs[0][3].splitlines()) == sorted(whole[3].replace(str(streamed).encode(), str(parts).encode()).splitlines())
    assert runs[0][0][1] > 250 and runs[0][0][2] > 0 and runs[0][0][3] > 5
