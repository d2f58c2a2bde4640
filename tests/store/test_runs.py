from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

from distillguard.store import Store
from distillguard.store.runs import latest_run_id, record_run, run_ids

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_an_empty_store_has_no_latest_run(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        assert latest_run_id(store) is None and run_ids(store) == []


def test_runs_are_ordered_by_when_they_finished_then_started(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        for run_id, started, finished in [("early-long", T0, T0 + timedelta(hours=5)),
                                          ("late-short", T0 + timedelta(hours=1), T0 + timedelta(hours=2)),
                                          ("unfinished-old", T0 - timedelta(days=1), None),
                                          ("unfinished-new", T0 + timedelta(hours=9), None)]:
            store.con.execute("INSERT INTO runs VALUES (?, 'analyze', ?, ?, [], '{}')", [run_id, started, finished])
        # the run that finished last is the latest, though another started after it
        assert run_ids(store) == ["early-long", "late-short", "unfinished-new", "unfinished-old"]
        assert latest_run_id(store) == "early-long"


def test_a_recorded_run_is_finished_now_and_keeps_its_inputs_and_counts(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        store.con.execute("INSERT INTO runs VALUES ('older', 'analyze', ?, ?, [], '{}')", [T0, T0])
        record_run(store, "new", "replay", T0 - timedelta(days=1), ["logs/a.jsonl"], {"read": 3, "rejected": 1})
        row = store.query("SELECT * FROM runs WHERE run_id = 'new'").to_pylist()[0]
        assert latest_run_id(store) == "new"
        with pytest.raises(duckdb.ConstraintException):
            record_run(store, "new", "replay", T0, [], {})
    assert row["kind"] == "replay" and row["inputs"] == ["logs/a.jsonl"]
    assert row["finished_at"] > T0 and orjson.loads(row["counts"]) == {"read": 3, "rejected": 1}
