"""The per-account table of population-wide signals, from a real store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from distillguard.accounts import AccountStats, IpIntel
from distillguard.accounts.inputs import stat_input
from distillguard.analysis.stats import POPULATION_COLUMNS, account_features, build_stats, population_signals
from distillguard.signals import compute_signals
from distillguard.store import Store
from factories import T0, account, accounts, exchange, exchanges


def test_one_row_per_stored_account_with_every_column(tmp_path: Path) -> None:
    rows = [exchange(i, account_id=f"acct-{i % 3}", thinking_budget=16_000 if i % 3 == 0 else None,
                     tls_ja4=None if i % 3 == 2 else "t13d_py") for i in range(12)]
    batch = exchanges(rows)
    with Store(tmp_path / "a.duckdb") as store:
        store.ingest_batch(batch, pa.table({"request_id": batch.column("request_id")}))
        store.upsert_accounts(accounts([account("acct-0", created_at=T0 - timedelta(days=1))]))
        table = population_signals(store, IpIntel())
    assert table.column_names == ["account_id", *POPULATION_COLUMNS]
    got = {r["account_id"]: r for r in table.to_pylist()}
    assert sorted(got) == ["acct-0", "acct-1", "acct-2"]
    assert got["acct-0"]["maxed_reasoning_share"] == 1.0 and got["acct-1"]["maxed_reasoning_share"] == 0.0
    assert got["acct-2"]["client_mismatch_share"] is None  # no TLS fingerprint: unknown
    assert got["acct-0"]["young_exit_excess"] == 0.0  # young, but alone at its exit among accounts with records
    assert got["acct-1"]["young_exit_excess"] is None  # no account record: unknown


def test_empty_store_gives_an_empty_table(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        table = population_signals(store, IpIntel())
    assert table.num_rows == 0 and table.column_names == ["account_id", *POPULATION_COLUMNS]


def test_account_features_join_the_population_in_the_fingerprints_order(tmp_path: Path) -> None:
    rows = [exchange(i, account_id=f"acct-{(7 - i) % 3}", thinking_budget=16_000 if i % 3 == 1 else None,
                     ts=T0 + timedelta(hours=i)) for i in range(9)]
    batch = exchanges(rows)
    signals = compute_signals(batch)
    with Store(tmp_path / "a.duckdb") as store:
        store.ingest_batch(batch, signals)
        stats = AccountStats(IpIntel())
        stats.update(stat_input(batch, signals))
        features = account_features(store, stats)
        early = account_features(store, stats, until=T0 + timedelta(hours=1))
    base = stats.get()
    assert features.column_names == [*base.column_names, *POPULATION_COLUMNS]
    assert features.select(base.column_names).equals(base)  # types and order as the fingerprints have them
    by_id = dict(zip(features.column("account_id").to_pylist(), features.column("maxed_reasoning_share").to_pylist()))
    assert by_id == {"acct-1": 0.0, "acct-0": 1.0, "acct-2": 0.0}
    # a replay's step sees only the traffic before its end: one account so far, the others unknown
    assert early.column("maxed_reasoning_share").to_pylist().count(None) == 2


def test_client_pairs_are_learned_from_the_established_accounts(tmp_path: Path) -> None:
    """Twenty-five customers of a year run the Python SDK over its stack and five use Chrome; forty accounts created the
    day before claim Chrome over the Python stack. Learned from everyone, the fleet's pair is common; learned from the
    established accounts (those with a record a month old or more at their first request) it is a spoof, whether the
    population is read from the exchanges or from the store's kept per-day aggregates."""
    chrome = "Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36"
    users = [(f"sdk-{k}", "anthropic-python/0.49.0", "t13d_py") for k in range(25)]
    users += [(f"web-{k}", chrome, "t13d_chrome") for k in range(5)]
    fleet = [(f"fleet-{k}", chrome, "t13d_py") for k in range(40)]
    rows = [exchange(len(users) * r + i, account_id=a, user_agent=agent, tls_ja4=tls)
            for r in range(2) for i, (a, agent, tls) in enumerate(users + fleet)]
    batch = exchanges(rows)
    signals = compute_signals(batch)
    records = [account(a, created_at=T0 - timedelta(days=365)) for a, _, _ in users]
    records += [account(a, created_at=T0 - timedelta(days=1)) for a, _, _ in fleet]
    with Store(tmp_path / "a.duckdb") as store:
        store.ingest_batch(batch, signals)
        store.upsert_accounts(accounts(records))
        direct = population_signals(store, IpIntel())
        build_stats(store, IpIntel(), 1_000)
        kept = population_signals(store, IpIntel())
    for table in (direct, kept):
        share = dict(zip(table.column("account_id").to_pylist(), table.column("client_mismatch_share").to_pylist()))
        assert all(share[a] == 1.0 for a, _, _ in fleet)
        assert all(share[a] == 0.0 for a, _, _ in users)
