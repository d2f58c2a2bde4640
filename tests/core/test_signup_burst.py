"""Signup-burst slots: epoch-aligned, as DuckDB's ``time_bucket`` cuts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from distillguard.core.signup_burst import SIGNUP_BURST_MINUTES, SIGNUP_BURST_MS, signup_burst_slot

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@pytest.mark.parametrize(
    ("at", "slot"),
    [(T0, T0), (T0 + timedelta(minutes=29, seconds=59), T0), (T0 + timedelta(minutes=30), T0 + timedelta(minutes=30)),
     (T0 - timedelta(milliseconds=1), T0 - timedelta(minutes=30)),
     (datetime(1969, 12, 31, 23, 45, tzinfo=UTC), datetime(1969, 12, 31, 23, 30, tzinfo=UTC))],
)
def test_slot_start(at: datetime, slot: datetime) -> None:
    assert signup_burst_slot(_ms(at)) == _ms(slot)
    assert SIGNUP_BURST_MS == SIGNUP_BURST_MINUTES * 60_000


def test_slots_are_duckdb_time_buckets() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for minutes in range(0, 24 * 60, 7):
        at = T0 + timedelta(minutes=minutes, seconds=13)
        (bucket,) = con.execute(
            f"SELECT epoch_ms(time_bucket(INTERVAL '{SIGNUP_BURST_MINUTES} minutes', CAST(? AS TIMESTAMPTZ)))", [at]
        ).fetchall()[0]
        assert bucket == signup_burst_slot(_ms(at))
