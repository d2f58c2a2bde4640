from pathlib import Path

import duckdb
import pytest

from distillguard.core.errors import StoreError
from distillguard.store import SCHEMA_VERSION, Store


def test_a_read_only_store_reads_and_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    with Store(path) as store:
        store.con.execute("INSERT INTO runs VALUES ('r1', 'analyze', now(), now(), [], '{}')")
    with Store(path, read_only=True) as store:
        assert store.query("SELECT run_id FROM runs").column(0).to_pylist() == ["r1"]
        with pytest.raises(duckdb.Error, match="read-only"):
            store.con.execute("DELETE FROM runs")


def test_a_read_only_store_must_exist(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="store not found"):
        Store(tmp_path / "missing" / "a.duckdb", read_only=True).open()
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("version", [SCHEMA_VERSION - 1, SCHEMA_VERSION + 1])
def test_a_read_only_store_at_another_schema_version_is_refused(tmp_path: Path, version: int) -> None:
    path = tmp_path / "a.duckdb"
    with Store(path) as store:
        store.con.execute("DELETE FROM schema_version WHERE version > ?", [min(version, SCHEMA_VERSION)])
        if version > SCHEMA_VERSION:
            store.con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    with pytest.raises(StoreError, match=rf"a\.duckdb: schema version {version}; .* reads version {SCHEMA_VERSION}"):
        Store(path, read_only=True).open()


def test_a_file_that_is_no_store_is_refused_read_only(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(StoreError, match="not a distillguard store"):
        Store(path, read_only=True).open()
