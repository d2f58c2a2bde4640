import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from distillguard.core.errors import StoreError
from distillguard.store import SCHEMA_VERSION, Store
from factories import exchange, exchanges, store_before


def _signals(batch: pa.Table) -> pa.Table:
    n = batch.num_rows
    return pa.table({
        "request_id": batch.column("request_id"),
        "cot_score": pa.array([0.5] * n, pa.float32()),
        "capability": pa.array(["general"] * n),
    })


def test_new_store_is_at_current_version(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        assert store.schema_version() == SCHEMA_VERSION
    with Store(tmp_path / "a.duckdb") as store:  # reopening migrates nothing
        assert store.schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    with Store(path) as store:
        store.con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    with pytest.raises(StoreError, match="newer"):
        Store(path).open()


def test_signals_stored_before_the_prompt_score_are_kept_without_it(tmp_path: Path) -> None:
    """A store from before ``prompt_cot_score`` keeps its signal rows, their prompt score null (read as no ask in the
    prompt), and stores the score of the rows ingested after it."""
    path = tmp_path / "a.duckdb"
    con = store_before(path, "prompt_cot_score")
    con.execute("INSERT INTO signals (rid, account_id, ts, cot_score) VALUES (1, 'a', now(), 0.9)")
    con.close()
    batch = exchanges([exchange(i) for i in range(2)])
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        store.ingest_batch(batch, _signals(batch).append_column("prompt_cot_score", pa.array([0.7, 0.2], pa.float32())))
        rows = store.query("SELECT rid, cot_score, prompt_cot_score FROM signals ORDER BY cot_score DESC").to_pylist()
    assert rows[0] == {"rid": 1, "cot_score": pytest.approx(0.9), "prompt_cot_score": None}
    assert sorted(r["prompt_cot_score"] for r in rows[1:]) == [pytest.approx(0.2), pytest.approx(0.7)]


def test_reingest_is_a_noop_and_duplicates_in_a_batch_collapse(tmp_path: Path) -> None:
    batch = exchanges([exchange(i) for i in range(10)] + [exchange(3)])
    with Store(tmp_path / "a.duckdb") as store:
        assert store.ingest_batch(batch, _signals(batch)).new == 10
        assert store.ingest_batch(batch, _signals(batch)).new == 0
        assert store.query("SELECT count(*) FROM exchanges").column(0)[0].as_py() == 10
        assert store.query("SELECT count(*) FROM signals").column(0)[0].as_py() == 10


def test_no_store_text_keeps_signals_but_not_text(tmp_path: Path) -> None:
    batch = exchanges([exchange(i, system="Think hard.") for i in range(3)])
    with Store(tmp_path / "a.duckdb") as store:
        store.ingest_batch(batch, _signals(batch), keep_text=False)
        row = store.query("SELECT system, prompt, response_text FROM exchanges LIMIT 1").to_pylist()[0]
        assert row == {"system": None, "prompt": None, "response_text": None}
        assert store.query("SELECT count(cot_score) FROM signals").column(0)[0].as_py() == 3


def test_failed_batch_leaves_store_unchanged(tmp_path: Path) -> None:
    good = exchanges([exchange(i) for i in range(5)])
    with Store(tmp_path / "a.duckdb") as store:
        store.ingest_batch(good, _signals(good))
        bad_batch = exchanges([exchange(i) for i in range(5, 10)])
        bad_signals = _signals(bad_batch).append_column("no_such_signal", pa.array([1] * 5))
        with pytest.raises(StoreError, match="batch not stored"):
            store.ingest_batch(bad_batch, bad_signals)
        assert store.query("SELECT count(*) FROM exchanges").column(0)[0].as_py() == 5
        assert store.query("SELECT count(*) FROM signals").column(0)[0].as_py() == 5


_FULL_DISK = """
import resource, signal, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from distillguard.core.errors import StoreError
from distillguard.store import Store
from factories import exchange, exchanges
from test_store import _signals

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing the process
path = Path({path!r})
store = Store(path).open()
big = exchanges([exchange(i, prompt="x" * 1_000_000 + str(i)) for i in range(5, 10)])
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 65_536, resource.RLIM_INFINITY))
try:
    store.ingest_batch(big, _signals(big))
except StoreError as exc:
    print(exc)
"""


def test_a_commit_the_disk_cannot_hold_is_a_store_error_and_what_was_stored_stays(tmp_path: Path) -> None:
    """A full disk fails the commit itself, which ends the transaction: the error says what was not stored (it was
    DuckDB's "no transaction is active" from the rollback after it), and the rows stored before are all there."""
    path = tmp_path / "a.duckdb"
    good = exchanges([exchange(i) for i in range(5)])
    with Store(path) as store:
        store.ingest_batch(good, _signals(good))
    script = _FULL_DISK.format(tests=str(Path(__file__).resolve().parents[1]), path=str(path))
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                           cwd=Path(__file__).parent)
    assert child.returncode == 0, child.stderr
    assert "batch not stored" in child.stdout and "File too large" in child.stdout
    with Store(path) as store:
        assert store.query("SELECT count(*) FROM exchanges").column(0)[0].as_py() == 5
        assert store.query("SELECT count(*) FROM signals").column(0)[0].as_py() == 5


def test_accounts_upsert_replaces(tmp_path: Path) -> None:
    from factories import account, accounts

    with Store(tmp_path / "a.duckdb") as store:
        store.upsert_accounts(accounts([account("a", category="research"), account("b")]))
        store.upsert_accounts(accounts([account("a", category="startup")]))
        rows = store.query("SELECT account_id, category FROM accounts ORDER BY 1").to_pylist()
        assert rows == [{"account_id": "a", "category": "startup"}, {"account_id": "b", "category": "individual"}]


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.duckdb").mkdir()
    with pytest.raises(StoreError, match="cannot open"):
        Store(tmp_path / "dir.duckdb").open()


def test_scan_streams_in_batches(tmp_path: Path) -> None:
    batch = exchanges([exchange(i) for i in range(25)])
    with Store(tmp_path / "a.duckdb") as store:
        store.ingest_batch(batch, _signals(batch))
        sizes = [t.num_rows for t in store.scan("SELECT * FROM exchanges ORDER BY ts", batch_size=10)]
        assert sum(sizes) == 25 and max(sizes) <= 10


def test_rids_given_by_the_caller_store_what_the_store_computes(tmp_path: Path) -> None:
    from distillguard.store.duckdb_store import request_rids

    batch = exchanges([exchange(i) for i in range(6)] + [exchange(2)])
    rows = []
    for name, rids in (("computed", None), ("given", request_rids(batch))):
        with Store(tmp_path / f"{name}.duckdb") as store:
            stored = store.ingest_batch(batch, _signals(batch), rids=rids)
            assert (stored.new, stored.duplicates) == (6, 1)
            rows.append((store.query("SELECT * FROM exchanges ORDER BY rid").to_pylist(),
                         store.query("SELECT * FROM signals ORDER BY rid").to_pylist()))
    assert rows[0] == rows[1]
    with Store(tmp_path / "short.duckdb") as store, pytest.raises(StoreError, match="rids differ in length"):
        store.ingest_batch(batch, _signals(batch), rids=request_rids(batch)[:3])


def test_a_twin_works_in_transactions_of_its_own_beside_the_store(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb").open() as store:
        store.con.execute("CREATE TABLE a (x INTEGER); CREATE TABLE b (x INTEGER)")
        with store.twin() as twin, ThreadPoolExecutor(1) as pool:
            with store.transaction("test") as con:
                con.execute("INSERT INTO a VALUES (1)")

                def write_b() -> None:
                    with twin.transaction("twin") as side:
                        side.execute("INSERT INTO b VALUES (2)")

                pool.submit(write_b).result()  # commits while the store's transaction is open
                assert store.query("SELECT count(*) AS n FROM b").column("n")[0].as_py() == 0  # not in its snapshot
            assert twin.query("SELECT x FROM a").column("x").to_pylist() == [1]
        assert store.query("SELECT x FROM b").column("x").to_pylist() == [2]
        assert store.query("SELECT x FROM a").column("x").to_pylist() == [1]  # closing the twin leaves the store open


def test_threads_for_a_block_go_back_after_it_even_on_an_error(tmp_path: Path) -> None:
    def threads(store: Store) -> int:
        return int(store.query("SELECT current_setting('threads') AS n").column("n")[0].as_py())

    with Store(tmp_path / "t.duckdb", threads=2) as store:
        with store.threads_for(1):
            assert threads(store) == 1
        assert threads(store) == 2
        with pytest.raises(RuntimeError), store.threads_for(1):
            raise RuntimeError("during the block")
        assert threads(store) == 2
