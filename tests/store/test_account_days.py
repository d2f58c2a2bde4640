"""The kept account statistics' bookkeeping: which exchange rows are new, and where they fall (real DuckDB)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from distillguard.store import Store, account_days
from factories import T0, exchange, exchanges


def _ingest(store: Store, rows: list[dict[str, object]]) -> None:
    batch = exchanges(rows)  # type: ignore[arg-type]
    store.ingest_batch(batch, pa.table({"request_id": batch.column("request_id")}))


def _keep(store: Store, fingerprint: str = "f") -> account_days.Unfolded:
    """Mark every new row folded in, with a blob per new account and day (the statistics' content is not read here)."""
    with store.transaction("test"):
        new = account_days.unfolded(store, fingerprint)
        days = account_days.new_account_days(store).to_pylist()
        for day in {r["day"] for r in days}:
            ids = [r["account_id"] for r in days if r["day"] == day]
            account_days.keep_day_stats(store, day, pa.table({"account_id": ids, "stats": [b"x"] * len(ids)}))
        ids = sorted({r["account_id"] for r in days})
        account_days.keep_total_stats(store, pa.table({"account_id": ids, "stats": [b"x"] * len(ids)}))
        account_days.mark_folded(store, new, fingerprint)
    return new


def test_only_rows_stored_since_the_last_run_are_new(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb").open() as store:
        _ingest(store, [exchange(0), exchange(1)])
        assert _keep(store) == account_days.Unfolded(0, 2)
        _ingest(store, [exchange(1), exchange(2)])  # one repeat, one new
        assert account_days.pending(store, "f") == account_days.pending(store, "f") == account_days.Unfolded(2, 3)
        assert account_days.pending(store, "other intel").rows == 3
        assert _keep(store) == account_days.Unfolded(2, 3)
        assert _keep(store).rows == 0
        assert _keep(store, "other intel") == account_days.Unfolded(0, 3)  # made another way: start over
        store.con.execute("DELETE FROM exchanges WHERE request_id = 'req-0'")
        _ingest(store, [exchange(3)])
        assert _keep(store, "other intel").since == 0  # rows below the mark were removed: start over


def test_new_rows_inside_a_kept_day_or_before_a_kept_total_are_flagged(tmp_path: Path) -> None:
    day = timedelta(days=1)
    with Store(tmp_path / "a.duckdb").open() as store:
        _ingest(store, [exchange(0), exchange(600), exchange(10, account_id="acct-2", ts=T0 + day)])
        _keep(store)
        _ingest(store, [
            exchange(1, ts=T0 + timedelta(minutes=5)),  # inside acct-1's kept day
            exchange(2, ts=T0 + day + timedelta(hours=1)),  # after everything acct-1 holds
            exchange(11, account_id="acct-2", ts=T0),  # a day before acct-2's kept total
            exchange(12, account_id="acct-3"),  # a new account
        ])
        with store.transaction("test"):
            account_days.unfolded(store, "f")
            got = {(r["day"], r["account_id"]): (r["n"], r["late"], r["behind"])
                   for r in account_days.new_account_days(store).to_pylist()}
    first, second = date(2026, 3, 2), date(2026, 3, 3)
    assert got == {(first, "acct-1"): (1, True, True), (second, "acct-1"): (1, False, True),
                   (first, "acct-2"): (1, False, True), (first, "acct-3"): (1, False, False)}


def test_totals_list_accounts_in_the_order_they_appeared(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb").open() as store:
        _ingest(store, [exchange(5, account_id="b"), exchange(9, account_id="a")])
        _keep(store)
        _ingest(store, [exchange(1, account_id="a"), exchange(0, account_id="c", ts=T0 + timedelta(minutes=7))])
        _keep(store)
        assert account_days.total_stats(store).column("account_id").to_pylist() == ["a", "b", "c"]
        assert account_days.total_stats(store, ["c", "b"]).column("account_id").to_pylist() == ["b", "c"]
