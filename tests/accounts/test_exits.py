"""Exits shared by many young accounts, against the base rate of their origin class."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from distillguard.accounts import IpIntel
from distillguard.accounts.exits import young_exit_excess

T0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def intel(tmp_path: Path) -> IpIntel:
    (tmp_path / "datacenter-ipv4.txt").write_text("203.0.113.0/24\n")
    return IpIntel.load(tmp_path)


def _row(account: str, ip: str, age_days: float | None) -> dict[str, object]:
    created = None if age_days is None else T0 - timedelta(days=age_days)
    return {"account_id": account, "ip": ip, "n": 3, "first_seen": T0, "created_at": created}


def _excess(rows: list[dict[str, object]], intel: IpIntel) -> dict[str, float | None]:
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("account_id", pa.string()), ("ip", pa.string()), ("n", pa.int64()),
        ("first_seen", pa.timestamp("us", tz="UTC")), ("created_at", pa.timestamp("us", tz="UTC")),
    ]))
    return {r["account_id"]: r["young_exit_excess"] for r in young_exit_excess(table, intel).to_pylist()}


def _background() -> list[dict[str, object]]:
    """Residential users on their own /24s (a tenth of them new) and a few old datacenter users."""
    rows = [_row(f"home-{i}", f"81.{i // 200}.{i % 200}.7", 1.0 if i % 10 == 0 else 400.0) for i in range(400)]
    rows += [_row(f"dc-{i}", f"203.0.113.{i + 1}", 300.0) for i in range(10)]
    return rows


def test_young_fleet_on_one_datacenter_address_stands_out(intel: IpIntel) -> None:
    fleet = [_row(f"fleet-{i}", "203.0.113.200", 0.5) for i in range(12)]
    got = _excess(_background() + fleet, intel)
    assert all(got[f"fleet-{i}"] == 1.0 for i in range(12))
    assert max(got[f"home-{i}"] or 0.0 for i in range(400)) == 0.0
    assert all(got[f"dc-{i}"] == 0.0 for i in range(10))  # old accounts on the same /24: not young


def test_a_carrier_nat_full_of_new_users_is_judged_against_its_kind(intel: IpIntel) -> None:
    """Residential exits where half the accounts are new: ten more new ones on one NAT address are no excess."""
    nat = [_row(f"nat-{i}", f"100.64.{i % 4}.1", 1.0 if (i // 4) % 2 else 200.0) for i in range(80)]
    nat += [_row(f"new-{i}", "100.64.0.1", 1.0) for i in range(10)]
    got = _excess(nat, intel)
    assert max(v or 0.0 for v in got.values()) < 0.5
    crowded = nat + [_row(f"fleet-{i}", "100.64.9.9", 1.0) for i in range(30)]
    assert _excess(crowded, intel)["fleet-0"] == pytest.approx(1.0)


def test_one_young_account_alone_at_an_exit_is_not_shared(intel: IpIntel) -> None:
    got = _excess(_background() + [_row("solo", "203.0.113.250", 0.1)], intel)
    assert got["solo"] == 0.0


def test_unknown_creation_time_is_missing_not_benign(intel: IpIntel) -> None:
    fleet = [_row(f"fleet-{i}", "203.0.113.200", 0.5) for i in range(5)]
    got = _excess(_background() + fleet + [_row("unknown", "203.0.113.200", None)], intel)
    assert got["unknown"] is None
    assert got["fleet-0"] == 1.0


def test_no_rows_no_accounts(intel: IpIntel) -> None:
    assert _excess([], intel) == {}
