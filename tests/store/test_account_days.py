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


def test_kept_partials_and_totals_are_replaced_and_new_ones_added(tmp_path: Path) -> None:
    def keep(store: Store, blob: bytes) -> None:
        with store.transaction("test"):
            new = account_days.unfolded(store, "f")
            days = account_days.new_account_days(store).to_pylist()
            for day in {r["day"] for r in days}:
                ids = [r["account_id"] for r in days if r["day"] == day]
                account_days.keep_day_stats(store, day, pa.table({"account_id": ids, "stats": [blob] * len(ids)}))
            ids = sorted({r["account_id"] for r in days})
            account_days.keep_total_stats(store, pa.table({"account_id": ids, "stats": [blob] * len(ids)}))
            account_days.mark_folded(store, new, "f")

    def kept(store: Store, table: str, columns: str) -> list[tuple[object, ...]]:
        return [tuple(r.values()) for r in store.query(f"SELECT {columns} FROM {table} ORDER BY ALL").to_pylist()]

    with Store(tmp_path / "a.duckdb").open() as store:
        _ingest(store, [exchange(0, ts=T0 + timedelta(hours=2))])
        keep(store, b"x")
        _ingest(store, [exchange(1, ts=T0), exchange(2, ts=T0 + timedelta(hours=3)),  # acct-1's kept day and total
                        exchange(3, account_id="acct-2", ts=T0 + timedelta(hours=1))])  # a new account
        keep(store, b"y")
        first = store.query("SELECT min(epoch_us(ts)::HUGEINT * 18446744073709551616 + rid) AS k FROM exchanges "
                            "WHERE account_id = 'acct-1'").column("k")[0].as_py()
        assert kept(store, "account_days", "account_id, last_ts, stats") == [
            ("acct-1", T0 + timedelta(hours=3), b"y"), ("acct-2", T0 + timedelta(hours=1), b"y")]
        totals = kept(store, "account_totals", "account_id, first_key, last_ts, stats")
        assert totals[0] == ("acct-1", first, T0 + timedelta(hours=3), b"y")
        assert [t[0] for t in totals] == ["acct-1", "acct-2"] and totals[1][3] == b"y"
