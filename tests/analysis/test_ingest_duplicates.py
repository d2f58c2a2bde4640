"""Ingest of repeated request ids: an exact repeat is a duplicate, a repeat with other content a reject."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.analysis.ingest import ingest
from distillguard.config.settings import IngestLimits
from distillguard.core.errors import IngestError
from distillguard.ingest import RejectSink
from distillguard.store import Store
from ingest.records import exchange


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _stored(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.query("SELECT request_id, account_id, ip, prompt FROM exchanges").to_pylist()
    return {r["request_id"]: r for r in rows}


def _run(store: Store, logs: list[Path], out: Path, *, batch_size: int = 100, keep_text: bool = True,
         strict: bool = False) -> tuple[Any, list[dict[str, Any]]]:
    with RejectSink(out, strict=strict) as sink:
        counts = ingest(store, logs, [], sink, batch_size=batch_size, keep_text=keep_text, limits=IngestLimits())
    rejects = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    return counts, rejects


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_a_conflicting_duplicate_is_rejected_and_the_original_kept(tmp_path: Path, batch_size: int) -> None:
    log = _write(tmp_path / "a.jsonl", [
        exchange(request_id="r1", account_id="alice"),
        exchange(request_id="r2"),
        exchange(request_id="r1", account_id="mallory", ip="203.0.113.9"),  # same id, other content
        exchange(request_id="r2"),  # an exact repeat
    ])
    with Store(tmp_path / "s.duckdb") as store:
        counts, rejects = _run(store, [log], tmp_path / "rejects.jsonl", batch_size=batch_size)
        assert _stored(store)["r1"]["account_id"] == "alice"
        assert store.query("SELECT count(*) AS n FROM signals").column("n")[0].as_py() == 2
    assert (counts.new, counts.duplicates, counts.rejected) == (2, 1, 1)
    (reject,) = rejects
    assert (reject["file"], reject["line"], reject["field"]) == (str(log), 3, "request_id")
    assert reject["reason"] == "duplicate request_id with other content (differs in account_id, ip)"
    assert reject["raw"] == "r1"


def test_rerunning_on_the_same_file_counts_duplicates_and_rejects_nothing(tmp_path: Path) -> None:
    log = _write(tmp_path / "a.jsonl", [exchange(request_id=f"r{i}", account_id=f"a{i % 3}") for i in range(50)])
    with Store(tmp_path / "s.duckdb") as store:
        first, _ = _run(store, [log], tmp_path / "r1.jsonl", batch_size=7)
        again, rejects = _run(store, [log], tmp_path / "r2.jsonl", batch_size=7)
        again_no_text, rejects_no_text = _run(store, [log], tmp_path / "r3.jsonl", batch_size=7, keep_text=False)
    assert (first.new, first.duplicates, first.rejected) == (50, 0, 0)
    assert (again.new, again.duplicates, again.rejected) == (0, 50, 0) and rejects == []
    assert (again_no_text.new, again_no_text.duplicates, again_no_text.rejected) == (0, 50, 0) and rejects_no_text == []


def test_texts_are_compared_where_both_sides_keep_them(tmp_path: Path) -> None:
    one = _write(tmp_path / "one.jsonl", [exchange(request_id="r1")])
    other_prompt = exchange(request_id="r1")
    other_prompt["request"]["messages"][0]["content"] = [{"type": "text", "text": "Something else."}]
    two = _write(tmp_path / "two.jsonl", [other_prompt])
    with Store(tmp_path / "kept.duckdb") as store:
        _run(store, [one], tmp_path / "x.jsonl")
        counts, rejects = _run(store, [two], tmp_path / "y.jsonl")
        assert _stored(store)["r1"]["prompt"] == "Solve x^2 = 4."
    assert counts.rejected == 1 and rejects[0]["reason"].endswith("(differs in prompt)")
    with Store(tmp_path / "no_text.duckdb") as store:  # stored without its text: a text cannot conflict
        _run(store, [one], tmp_path / "x.jsonl", keep_text=False)
        counts, _ = _run(store, [two], tmp_path / "z.jsonl")
    assert (counts.duplicates, counts.rejected) == (1, 0)


def test_a_conflict_under_strict_stops_the_run_naming_file_and_line(tmp_path: Path) -> None:
    log = _write(tmp_path / "a.jsonl", [exchange(request_id="r1"), exchange(request_id="r1", status=500)])
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(IngestError, match=r"a\.jsonl:2: request_id: duplicate"):
        _run(store, [log], tmp_path / "rejects.jsonl", strict=True)
