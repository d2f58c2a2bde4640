"""A first ingest stores without the key index and builds it at the end (Store.bulk_load): the same rows, repeats and
conflicts as with the index kept row by row; the index is back however the load ends; stores from before the index
keep their rows in order."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from distillguard.store import SCHEMA_VERSION, Store, duckdb_store
from distillguard.store.duckdb_store import BULK_KEYS
from distillguard.store.rids import RidSet
from factories import exchange, exchanges, store_before

from .test_store import _signals


def _has_index(store: Store) -> bool:
    return bool(store.query("SELECT count(*) AS n FROM duckdb_indexes() WHERE index_name = 'exchanges_rid'")
                .column("n")[0].as_py())


def _batches() -> list[list[dict[str, object]]]:
    """Batches with repeats within and across them, some exact, some with other content."""
    return [
        [exchange(i) for i in range(6)] + [exchange(2)],
        [exchange(1), exchange(7), exchange(3, model="other"), exchange(7), exchange(8, prompt="x")],
        [exchange(9), exchange(8, prompt="y"), exchange(0)],
    ]


@pytest.mark.parametrize("most", [BULK_KEYS, 7])  # 7: the load holds too many keys after its second batch
def test_a_bulk_load_stores_and_reports_as_the_index_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           most: int) -> None:
    monkeypatch.setattr(duckdb_store, "BULK_KEYS", most)
    results, rows, indexed = [], [], []
    for bulk in (False, True):
        with Store(tmp_path / f"{bulk}.duckdb") as store:
            with store.bulk_load() if bulk else nullcontext():
                assert _has_index(store) is not bulk
                got = []
                for rows_of_batch in _batches():
                    batch = exchanges(rows_of_batch)
                    got.append(store.ingest_batch(batch, _signals(batch)))
                    indexed.append(_has_index(store))
            assert _has_index(store)
            results.append(got)
            rows.append((store.query("SELECT * FROM exchanges ORDER BY rid").to_pylist(),
                         store.query("SELECT * FROM signals ORDER BY rid").to_pylist()))
    assert results[0] == results[1]
    assert [(r.new, r.duplicates, len(r.conflicts)) for r in results[1]] == [(6, 1, 0), (2, 2, 1), (1, 1, 1)]
    assert rows[0] == rows[1]
    assert indexed[3:] == ([False, False, False] if most == BULK_KEYS else [False, True, True])


def test_a_bulk_load_on_stored_rows_keeps_the_index(tmp_path: Path) -> None:
    batch = exchanges([exchange(i) for i in range(3)])
    with Store(tmp_path / "a.duckdb") as store:
        store.ingest_batch(batch, _signals(batch))
        with store.bulk_load():
            assert _has_index(store)
            assert store.ingest_batch(batch, _signals(batch)).duplicates == 3


def test_the_index_is_back_however_the_load_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    batch = exchanges([exchange(i) for i in range(3)])
    with Store(path) as store:
        with pytest.raises(RuntimeError), store.bulk_load():
            store.ingest_batch(batch, _signals(batch))
            raise RuntimeError("during the load")
        assert _has_index(store)
        with pytest.raises(duckdb.ConstraintException):
            store.con.execute("INSERT INTO exchanges SELECT * FROM exchanges LIMIT 1")
    with Store(path) as store:  # a process killed during a load: the next open builds the index
        store.con.execute("DROP INDEX exchanges_rid")
    with Store(path) as store:
        assert _has_index(store)
        assert store.ingest_batch(batch, _signals(batch)).duplicates == 3


def test_a_store_from_before_the_index_keeps_its_rows_in_order(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    con = store_before(path, "exchanges_rid")
    for rid in (5, 2, 9, 1):
        con.execute("INSERT INTO exchanges (rid, request_id, ts, account_id, ip, model, endpoint, api_format, n_messages, "
                    "n_user_turns, n_tool_results, tool_names, n_tool_calls) "
                    "VALUES (?, ?, now(), 'a', '192.0.2.1', 'm', '/v1/messages', 'anthropic_messages', 1, 1, 0, [], 0)",
                    [rid, f"r{rid}"])
    con.close()
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION and _has_index(store)
        assert store.query("SELECT rid FROM exchanges ORDER BY rowid").column(0).to_pylist() == [5, 2, 9, 1]
        assert not store.query("SELECT * FROM duckdb_constraints() WHERE table_name = 'exchanges' "
                               "AND constraint_type = 'PRIMARY KEY'").num_rows
        with pytest.raises(duckdb.ConstraintException):
            store.con.execute("INSERT INTO exchanges SELECT * FROM exchanges WHERE rid = 9")


@given(st.lists(st.lists(st.integers(0, 60), max_size=12), max_size=12), st.lists(st.integers(0, 80), max_size=20))
def test_a_rid_set_holds_what_was_added(batches: list[list[int]], probe: list[int]) -> None:
    rids, held = RidSet(), set[int]()
    for keys in batches:
        new = sorted(set(keys) - held)
        rids.add(np.array(new, dtype=np.uint64))
        held |= set(new)
    assert len(rids) == len(held)
    assert rids.contains(np.array(probe, dtype=np.uint64)).tolist() == [k in held for k in probe]
