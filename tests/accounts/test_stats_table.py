"""Account statistics travel as rows of blobs (``to_table`` / ``from_table``), the form the store keeps them in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.accounts import STAT_INPUT_COLUMNS, AccountStats
from distillguard.accounts.stats import blob_size
from distillguard.core.schema import TS_TYPE

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _batch(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ts = sorted(T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 3 * 86400, size=n))
    columns = {
        "account_id": pa.array(rng.choice(["a", "b", "c", "d"], size=n).tolist()),
        "ts": pa.array(ts, TS_TYPE),
        "ip": pa.array([f"81.2.{rng.integers(0, 4)}.{rng.integers(1, 50)}" for _ in range(n)]),
        "user_agent": pa.array(rng.choice(["ua-1", "ua-2"], size=n).tolist()),
        "tls_ja4": pa.array(["t13d"] * n),
        "n_user_turns": pa.array(rng.integers(1, 4, size=n), pa.int32()),
        "n_tool_results": pa.array(rng.integers(0, 2, size=n), pa.int32()),
        "cot_score": pa.array(rng.random(n), pa.float32()), "prompt_cot_score": pa.array(rng.random(n), pa.float32()),
        "reasoning_requested": pa.array(rng.random(n), pa.float32()),
        "capability": pa.array(rng.choice(["reasoning", "coding", "general"], size=n).tolist()),
        "template_key": pa.array(rng.integers(0, 5, size=n).astype(np.uint64), pa.uint64()),
        "prompt_hash": pa.array(rng.integers(0, 2**63, size=n).astype(np.uint64), pa.uint64()),
        "reasoning_share": pa.array(rng.random(n), pa.float32()),
        "output_len": pa.array(rng.integers(1, 500, size=n), pa.int32()),
        "has_tool_calls": pa.array(rng.choice([True, False], size=n).tolist(), pa.bool_()),
    }
    return pa.table({name: columns[name] for name in STAT_INPUT_COLUMNS})


def test_rows_of_blobs_give_the_same_statistics_in_the_same_order() -> None:
    stats = AccountStats()
    stats.update(_batch(300, seed=3))
    table = stats.to_table()
    assert table.column_names == ["account_id", "stats"]
    assert set(pc.binary_length(table.column("stats")).to_pylist()) == {blob_size()}
    for account in table.column("account_id").to_pylist():  # the same blob as one account's to_bytes
        row = table.column("account_id").to_pylist().index(account)
        assert table.column("stats")[row].as_py() == stats.to_bytes(account)
    back = AccountStats.from_table(table.slice(1))  # sliced: the blobs start at an offset
    assert back.get().to_pylist() == stats.get().slice(1).to_pylist()
    assert len(AccountStats.from_table(AccountStats().to_table())) == 0


def test_merging_read_back_rows_equals_merging_the_originals() -> None:
    left, right = AccountStats(), AccountStats()
    left.update(_batch(200, seed=1))
    right.update(_batch(200, seed=2).slice(150))
    expected = AccountStats.from_table(left.to_table())
    expected.merge(right)
    left.merge(AccountStats.from_table(right.to_table()))
    assert left.get() == expected.get()


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: pa.table({"account_id": ["a", "a"], "stats": [t["stats"][0], t["stats"][0]]}), "repeat an account"),
    (lambda t: pa.table({"account_id": ["a"], "stats": pa.array([b"\x03\x07" + b"\x00" * 10])}), "not all of"),
    (lambda t: pa.table({"account_id": ["a"], "stats": pa.array([b"\x09" + t["stats"][0].as_py()[1:]])}), "version"),
    (lambda t: pa.table({"account_id": ["a"], "stats": pa.array([None], pa.binary())}), "null blob"),
])
def test_malformed_rows_are_refused(change: object, message: str) -> None:
    stats = AccountStats()
    stats.update(_batch(50))
    with pytest.raises(ValueError, match=message):
        AccountStats.from_table(change(stats.to_table()))  # type: ignore[operator]
