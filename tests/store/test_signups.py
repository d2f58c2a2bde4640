"""The store's reads for the signup assessor: the newest accounts and the latest run's flagged local parts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from distillguard.store import Store
from distillguard.store.signups import latest_flagged_locals, recent_signups
from factories import account, accounts

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
DECISION_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("account_id", pa.string()), ("risk", pa.float64()), ("action", pa.string()),
    ("flagged", pa.bool_()), ("campaign_id", pa.string()), ("flagged_at", pa.timestamp("ms", tz="UTC")),
    ("reasons", pa.list_(pa.string())),
])


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _decision(run_id: str, account_id: str, flagged_at: datetime | None) -> dict:
    return {"run_id": run_id, "account_id": account_id, "risk": 0.9 if flagged_at else 0.1,
            "action": "block" if flagged_at else "allow", "flagged": flagged_at is not None, "campaign_id": None,
            "flagged_at": flagged_at, "reasons": []}


def _insert_decisions(store: Store, rows: list[dict]) -> None:
    """Decisions as a run leaves them (the columns this test needs; the others null)."""
    store.con.register("_test_decisions", pa.Table.from_pylist(rows, schema=DECISION_SCHEMA))
    try:
        store.con.execute("INSERT INTO decisions BY NAME SELECT * FROM _test_decisions")
    finally:
        store.con.unregister("_test_decisions")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.duckdb") as db:
        db.upsert_accounts(accounts([
            account("a1", email_local="zhang.wei1987", email_domain="mail.example", created_at=T0 - timedelta(days=3),
                    signup_ip="81.2.69.1", payment_fingerprint="pf_1"),
            account("a2", email_local="li.na1990", email_domain="mail.example", created_at=T0 - timedelta(days=2)),
            account("a3", email_local="", email_domain="mail.example", created_at=T0 - timedelta(days=1)),
            account("a4", created_at=None),
        ]))
        yield db


def _runs(store: Store) -> None:
    """Three runs: ``old`` and ``new`` finished, ``running`` started last but not finished."""
    for run_id, started, finished in (("old", 9, 8), ("new", 2, 1), ("running", 0, None)):
        store.con.execute("INSERT INTO runs VALUES (?, 'analyze', ?, ?, [], '{}')",
                          [run_id, T0 - timedelta(days=started), None if finished is None else T0 - timedelta(days=finished)])
    _insert_decisions(store, [
        _decision("old", "a2", T0 - timedelta(days=8)),
        _decision("new", "a1", T0 - timedelta(days=1)), _decision("new", "a2", None),
        _decision("new", "a3", T0 - timedelta(hours=20)),
        _decision("running", "a2", T0),
    ])


def test_recent_signups_are_the_newest_created_accounts(store: Store) -> None:
    rows = recent_signups(store, 10).to_pylist()
    assert [r["account_id"] for r in rows] == ["a3", "a2", "a1"]  # newest first; no creation time, no signup
    assert rows[2] == {"account_id": "a1", "at": _ms(T0 - timedelta(days=3)), "email_local": "zhang.wei1987",
                       "email_domain": "mail.example", "signup_ip": "81.2.69.1", "payment_fingerprint": "pf_1"}
    assert recent_signups(store, 2).column("account_id").to_pylist() == ["a3", "a2"]


def test_flagged_locals_come_from_the_latest_finished_run(store: Store) -> None:
    _runs(store)
    assert latest_flagged_locals(store, 10).to_pylist() == [
        {"email_local": "zhang.wei1987", "at": _ms(T0 - timedelta(days=1))},  # a3 has no local part
    ]
    assert latest_flagged_locals(store, 0).num_rows == 0


def test_no_run_no_flagged_locals(store: Store) -> None:
    table = latest_flagged_locals(store, 10)
    assert table.num_rows == 0 and table.column_names == ["email_local", "at"]
