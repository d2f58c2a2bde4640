"""What an ingest worker does with one chunk: parse it and compute its signals, with the cyclic collector paused."""

from __future__ import annotations

import gc
import pickle
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pytest
from signals_fixtures import RowCounter

from distillguard.analysis.ingest import _Work
from distillguard.ingest.readers import ChunkParser, RawChunk
from distillguard.signals import Signal
from distillguard.signals.base import Batch, BatchContext
from ingest.records import exchange


@dataclass(frozen=True)
class _CollectorProbe(Signal):
    """Whether the cyclic garbage collector is on while signals are computed (one value per row)."""

    name: str = "collector_on"
    dtype: pa.DataType = pa.bool_()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        return pa.array([gc.isenabled()] * batch.num_rows, type=self.dtype)


@dataclass(frozen=True)
class _Failing(Signal):
    name: str = "failing"
    dtype: pa.DataType = pa.bool_()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        raise RuntimeError("signal failed")


def _chunk(n: int, first: int = 0, prompts: int = 3) -> RawChunk:
    lines = [orjson.dumps(exchange(request_id=f"r{i}", request={"messages": [
        {"role": "user", "content": f"Think step by step about question {i % prompts}."}]})) for i in range(first, first + n)]
    return RawChunk("log.jsonl", "lines", lines, first + 1, sum(len(line) + 1 for line in lines))


def test_a_chunk_is_worked_with_the_collector_paused_and_it_runs_again_after() -> None:
    assert gc.isenabled()
    [(batch, signals, rids, parse_s, signal_s)] = _Work(ChunkParser(), {"collector_on": _CollectorProbe()}, False
                                                        )(_chunk(5))
    assert batch.table.num_rows == 5 and len(rids) == 5
    assert signals.column("collector_on").to_pylist() == [False] * 5
    assert gc.isenabled()
    assert parse_s >= 0 and signal_s >= 0


def test_the_collector_runs_again_after_a_failure_and_stays_off_when_it_was_off() -> None:
    with pytest.raises(RuntimeError, match="signal failed"):
        _Work(ChunkParser(), {"failing": _Failing()}, False)(_chunk(2))
    assert gc.isenabled()
    gc.disable()
    try:
        _Work(ChunkParser(), {"collector_on": _CollectorProbe()}, False)(_chunk(2))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_chunks_of_a_part_share_their_distinct_prompts_and_get_the_signals_of_each_alone() -> None:
    chunks = [_chunk(40, 0), _chunk(40, 40), _chunk(7, 80)]
    work = _Work(ChunkParser(), None, False)
    together = work.chunks(chunks)
    alone = [work(chunk)[0] for chunk in chunks]
    for (batch, signals, rids, _, _), (batch1, signals1, rids1, _, _) in zip(together, alone, strict=True):
        assert batch.table.equals(batch1.table) and signals.equals(signals1) and (rids == rids1).all()
        assert len(pickle.dumps(signals)) < 2 * len(pickle.dumps(signals1))  # its own rows, not the part's buffers
    counted = _Work(ChunkParser(), {"rows_seen": RowCounter()}, False).chunks(chunks)
    assert [signals.column("rows_seen").to_pylist() for _, signals, _, _, _ in counted] == [[3] * 40, [3] * 40, [3] * 7]


def test_a_worker_computes_again_only_the_prompts_its_earlier_chunks_did_not_have() -> None:
    work = _Work(ChunkParser(), {"rows_seen": RowCounter()}, False)
    first = work(_chunk(6, 0, prompts=3))[0][1].column("rows_seen").to_pylist()
    again = work(_chunk(8, 6, prompts=4))[0][1].column("rows_seen").to_pylist()  # questions 0-2 again, and 3
    assert first == [3] * 6
    assert again == [3, 1, 3, 3, 3, 1, 3, 3]  # questions 2, 3, 0, 1, 2, 3, 0, 1: only 3 computed, once
