"""The store's population-wide reads behind the client, exit and request-parameter signals (real DuckDB)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from distillguard.store import Store
from distillguard.store.traffic import account_exits, client_pairs, request_parameters
from factories import T0, account, accounts, exchange, exchanges


def _signals(batch: pa.Table) -> pa.Table:
    return pa.table({"request_id": batch.column("request_id")})


def _store(path: Path, rows: list[dict[str, object]], records: list[dict[str, object]] | None = None) -> Store:
    store = Store(path).open()
    batch = exchanges(rows)  # type: ignore[arg-type]
    store.ingest_batch(batch, _signals(batch))
    if records:
        store.upsert_accounts(accounts(records))  # type: ignore[arg-type]
    return store


def test_client_pairs_count_each_accounts_claims_and_keep_missing_tls(tmp_path: Path) -> None:
    rows = [exchange(0), exchange(1), exchange(2, tls_ja4=None), exchange(3, account_id="acct-2", user_agent="curl/8")]
    with _store(tmp_path / "a.duckdb", rows) as store:
        got = {(r["account_id"], r["user_agent"], r["tls_ja4"]): r["n"] for r in client_pairs(store).to_pylist()}
    ja4 = "t13d1715h2_5b57614c22b0_3d5424432f57"
    assert got == {("acct-1", "anthropic-python/0.49.0", ja4): 2, ("acct-1", "anthropic-python/0.49.0", None): 1,
                   ("acct-2", "curl/8", ja4): 1}


def test_account_exits_carry_first_use_and_creation(tmp_path: Path) -> None:
    rows = [exchange(0, ip="10.0.0.1"), exchange(5, ip="10.0.0.2"), exchange(6, ip="10.0.0.2"),
            exchange(9, account_id="acct-2", ip="10.0.0.2")]
    with _store(tmp_path / "a.duckdb", rows, [account("acct-1", created_at=T0 - timedelta(days=2))]) as store:
        got = account_exits(store).to_pylist()
    assert [(r["account_id"], r["ip"], r["n"]) for r in got] == [
        ("acct-1", "10.0.0.1", 1), ("acct-1", "10.0.0.2", 2), ("acct-2", "10.0.0.2", 1)]
    assert {r["first_seen"] for r in got[:2]} == {T0}
    assert got[2]["first_seen"] == T0 + timedelta(minutes=9)
    assert got[0]["created_at"] == T0 - timedelta(days=2) and got[2]["created_at"] is None


def test_request_parameters_max_budgets_against_the_models_top_and_count_daily_sweeps(tmp_path: Path) -> None:
    rows = [
        # acct-1: the model's top budget twice, a small one once, on one day; effort high once
        exchange(0, thinking_budget=32_000), exchange(1, thinking_budget=30_000), exchange(2, thinking_budget=1024),
        exchange(3, reasoning_effort=" High ", api_format="openai"),
        # acct-2: four models in one day, nothing set; a fifth model the next day
        *(exchange(10 + k, account_id="acct-2", model=m) for k, m in enumerate(("a", "b", "c", "atlas-2-pro"))),
        exchange(2000, account_id="acct-2", model="e"),
        # acct-3: one request with no parameters
        exchange(20, account_id="acct-3"),
    ]
    with _store(tmp_path / "a.duckdb", rows) as store:
        got = {r["account_id"]: r for r in request_parameters(store, 0.9).to_pylist()}
    assert (got["acct-1"]["n"], got["acct-1"]["n_maxed"]) == (4, 3)
    assert got["acct-1"]["daily_settings"] == 4 and got["acct-1"]["daily_models"] == 1
    assert (got["acct-2"]["n"], got["acct-2"]["n_maxed"], got["acct-2"]["daily_models"]) == (5, 0, 4)
    assert got["acct-2"]["daily_settings"] == 0
    assert (got["acct-3"]["n_maxed"], got["acct-3"]["daily_settings"], got["acct-3"]["daily_models"]) == (0, 0, 1)


def test_population_reads_of_an_empty_store_are_empty(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        assert client_pairs(store).num_rows == account_exits(store).num_rows == 0
        assert request_parameters(store, 0.9).num_rows == 0
