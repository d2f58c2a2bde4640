"""A rebuild of the kept account statistics commits day by day and marks them as held only at the end:
stopped half-way, it leaves them unmarked, and the next run rebuilds them to what one uninterrupted run keeps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from distillguard.accounts import IpIntel
from distillguard.analysis.stats import build_stats
from distillguard.signals import compute_signals
from distillguard.store import Store
from factories import exchange, exchanges

ROWS = [exchange(k, ts=exchange(0)["ts"] + timedelta(hours=7 * k), account_id=f"acct-{k % 3}",
                 ip=f"81.2.69.{k % 5}") for k in range(30)]  # 30 exchanges over 9 UTC days


class Stop(Exception):
    """Raised from the progress callback to stop a run part-way."""


def _kept(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
    days = store.con.execute("SELECT day, account_id, last_ts, stats FROM account_days ORDER BY ALL").fetchall()
    totals = store.con.execute("SELECT account_id, first_key, last_ts, stats FROM account_totals ORDER BY ALL").fetchall()
    state = store.con.execute("SELECT exchanges, fingerprint FROM account_stats_state").fetchall()
    return days, totals, state


def _store(path: Path) -> Store:
    store = Store(path).open()
    batch = exchanges(ROWS)
    store.ingest_batch(batch, compute_signals(batch))
    return store


def test_a_rebuild_stopped_part_way_is_redone_whole(tmp_path: Path) -> None:
    intel = IpIntel()
    with _store(tmp_path / "whole.duckdb") as store:
        whole = build_stats(store, intel, 4).get()
        expected = _kept(store)
    assert len({d for d, *_ in expected[0]}) == 9 and expected[2] == [(30, expected[2][0][1])]

    seen: list[int] = []

    def stop_after_some_days(n: int) -> None:
        seen.append(n)
        if sum(seen) >= 15:
            raise Stop

    with _store(tmp_path / "stopped.duckdb") as store:
        with pytest.raises(Stop):
            build_stats(store, intel, 4, stop_after_some_days)
        days, totals, state = _kept(store)
        assert days and len(days) < len(expected[0])  # the days done so far were committed ...
        assert totals == [] and state == []  # ... but nothing is marked as held
        again = build_stats(store, intel, 4).get()
        assert _kept(store) == expected
    assert again.equals(whole)
