"""Big JSON-lines files are cut into byte-range parts read where they are parsed: the same rows, rejects and lines."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from distillguard.ingest import readers
from distillguard.ingest.readers import LinePart, RawChunk, raw_chunks, work_items

from .records import chat_exchange, exchange, read_items

_BOM = b"\xef\xbb\xbf"


def _log(path: Path, tail: bytes) -> Path:
    lines = [_BOM + orjson.dumps(exchange(request_id="r0"))]
    for i in range(1, 40):
        rec = (exchange if i % 2 else chat_exchange)(request_id=f"r{i}", account_id=f"a{i % 4}")
        if i % 7 == 3:
            rec["ip"] = "not an ip"
        lines.append(orjson.dumps(rec) + (b"\r" if i % 5 == 0 else b""))
        if i % 11 == 0:
            lines += [b"", b"  ", b"{broken", _BOM + orjson.dumps(exchange(request_id=f"bom{i}"))]
    path.write_bytes(b"\n".join(lines) + tail)
    return path


@pytest.mark.parametrize("tail", [b"\n", b""], ids=["newline at the end", "none"])
def test_parts_give_the_rows_rejects_and_lines_of_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 tail: bytes) -> None:
    """At every part size from a line to a third of the file: parts end just past a newline and cover the file,
    and a line opening with a byte-order mark is rejected wherever it falls (only the file's own is skipped)."""
    path = _log(tmp_path / "log.jsonl", tail)
    whole = read_items(raw_chunks(path, batch_size=4))
    size = path.stat().st_size
    data = path.read_bytes()
    assert len(whole[0]) > 25 and ("r0" in {r["request_id"] for r in whole[0]})
    assert sum(1 for line, _, reason in whole[1] if reason == "broken JSON") == 6  # {broken and BOM-led lines
    for part_bytes in range(300, size // 6, 97):
        monkeypatch.setattr(readers, "LINE_PART_BYTES", part_bytes)
        items = list(work_items(path, batch_size=4))
        assert all(isinstance(i, LinePart) for i in items) and len(items) >= 3
        parts = [i for i in items if isinstance(i, LinePart)]
        assert parts[0].start == 0 and parts[-1].stop == size
        assert all(p.stop == q.start and data[p.stop - 1:p.stop] == b"\n" for p, q in pairwise(parts))
        assert read_items(items) == whole, part_bytes


def test_small_files_and_json_arrays_are_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "LINE_PART_BYTES", 1000)
    small = tmp_path / "small.jsonl"
    small.write_bytes(orjson.dumps(exchange()) + b"\n")
    array = tmp_path / "array.json"
    array.write_bytes(orjson.dumps([exchange(request_id=f"r{i}") for i in range(20)]))
    assert small.stat().st_size < 2000 < array.stat().st_size
    assert all(isinstance(i, RawChunk) for i in work_items(small, 4))
    assert all(isinstance(i, RawChunk) for i in work_items(array, 4))
    assert len(read_items(work_items(array, 4))[0]) == 20
