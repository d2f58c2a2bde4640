from datetime import UTC, datetime, timedelta
from pathlib import Path

from distillguard.store import SCHEMA_VERSION, Store
from distillguard.store.enforcement import latest_overrides, override_history, record_override
from factories import store_before

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_overrides_are_an_append_only_audit_whose_latest_entry_per_account_is_in_force(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        assert latest_overrides(store) == (0, [])
        assert record_override(store, "acct-a", "block", "admin-token:ab", "ticket 1", T0) == 1
        assert record_override(store, "acct-b", "throttle", "admin-token:ab", None, T0 + timedelta(seconds=1)) == 2
        assert record_override(store, "acct-a", None, "admin-token:cd", "appeal", T0 + timedelta(seconds=2)) == 3
        seq, latest = latest_overrides(store)
        history = override_history(store, "acct-a")
    assert seq == 3
    assert sorted((e.account_id, e.action) for e in latest) == [("acct-a", None), ("acct-b", "throttle")]
    assert [(e.seq, e.action, e.actor, e.reason) for e in history] == [
        (1, "block", "admin-token:ab", "ticket 1"), (3, None, "admin-token:cd", "appeal")]
    assert history[1].decided_at == T0 + timedelta(seconds=2)


def test_a_store_from_before_the_overrides_is_migrated_to_the_current_version(tmp_path: Path) -> None:
    """A store left at the version before the overrides table gets it and every later migration, and is usable."""
    path = tmp_path / "a.duckdb"
    store_before(path, "CREATE TABLE overrides").close()
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert record_override(store, "acct-a", "block", "admin-token:ab", None, T0) == 1
