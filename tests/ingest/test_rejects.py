"""RejectSink: counts, the rejects file, strict mode."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from distillguard.core.errors import IngestError
from distillguard.ingest import Reject, RejectSink, read_exchanges

from .records import exchange

R1 = Reject("a.jsonl", 3, "ip", "invalid IP address", '{"ip": "x"}')
R2 = Reject("a.jsonl", 9, None, "broken JSON", "{")
R3 = Reject("b.jsonl", 1, "ip", "invalid IP address", '{"ip": "y"}')


def test_counts_and_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "rejects.jsonl"
    sink = RejectSink(out)
    assert not out.exists()  # no I/O before the first reject
    sink.add([])
    assert not out.exists()
    sink.add([R1, R2])
    sink.add([R3])
    sink.close()
    assert sink.total == 3
    assert sink.counts == {"invalid IP address": 2, "broken JSON": 1}
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert lines[0] == {"file": "a.jsonl", "line": 3, "field": "ip", "reason": "invalid IP address", "raw": '{"ip": "x"}'}
    assert [(x["file"], x["line"], x["field"]) for x in lines] == [
        ("a.jsonl", 3, "ip"),
        ("a.jsonl", 9, None),
        ("b.jsonl", 1, "ip"),
    ]
    assert sink.summary() == "3 rejects: 2 invalid IP address; 1 broken JSON"


def test_count_only_sink_and_context_manager(tmp_path: Path) -> None:
    with RejectSink() as sink:
        sink.add([R1])
    assert sink.total == 1 and list(tmp_path.iterdir()) == []
    assert RejectSink(tmp_path / "x.jsonl").summary() == "no rejects"


def test_strict_raises_at_the_first_reject(tmp_path: Path) -> None:
    out = tmp_path / "rejects.jsonl"
    sink = RejectSink(out, strict=True)
    sink.add([])
    with pytest.raises(IngestError, match=r"a\.jsonl:3: ip: invalid IP address") as info:
        sink.add([R1, R2])
    assert info.value.reject == R1  # type: ignore[attr-defined]
    assert sink.total == 1
    sink.close()
    assert [orjson.loads(x)["line"] for x in out.read_bytes().splitlines()] == [3]


def test_strict_end_to_end_names_file_line_field(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(orjson.dumps(r) for r in [exchange(), exchange(), exchange(ts="2026-01-01"), exchange(ip="nope")]))
    sink = RejectSink(tmp_path / "rejects.jsonl", strict=True)
    with pytest.raises(IngestError) as info:
        for batch in read_exchanges(log, batch_size=1):
            sink.add(batch.rejects)
    assert str(info.value) == f"rejected record at {log}:3: ts: bad timestamp: no time zone"


def test_lenient_end_to_end(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(orjson.dumps(r) for r in [exchange(), exchange(ts="2026-01-01"), exchange(ip="nope"), exchange()]))
    rows = 0
    with RejectSink(tmp_path / "rejects.jsonl") as sink:
        for batch in read_exchanges(log, batch_size=2):
            sink.add(batch.rejects)
            rows += batch.table.num_rows
    assert rows == 2
    assert sink.counts == {"bad timestamp: no time zone": 1, "invalid IP address": 1}
    written = [orjson.loads(x) for x in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    assert [(w["line"], w["field"]) for w in written] == [(2, "ts"), (3, "ip")]


def test_the_rejects_file_replaces_the_previous_one_only_when_closed(tmp_path: Path) -> None:
    out = tmp_path / "rejects.jsonl"
    out.write_bytes(R2.to_json() + b"\n")  # a previous run's
    sink = RejectSink(out)
    sink.add([R1, R3])
    assert out.read_bytes() == R2.to_json() + b"\n"  # a kill now leaves the previous complete file
    sink.close()
    assert [orjson.loads(x)["line"] for x in out.read_bytes().splitlines()] == [3, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["rejects.jsonl"]
