import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts import AccountStats, stat_input
from distillguard.accounts.online import OnlineAccountStats, merge_blob
from distillguard.accounts.stats import TASK_RULES, blob_size
from distillguard.signals import compute_signals
from factories import exchange, exchanges


def _traffic() -> pa.Table:
    rows = []
    for i in range(60):
        account = f"acct-{i % 3}"
        prompt = "Think step by step and show all of your reasoning." if i % 3 == 0 else f"Summarise note {i}."
        rows.append(exchange(i, account_id=account, ip=f"81.2.{i % 7}.{i % 5 + 1}", prompt=prompt,
                             response_reasoning="long reasoning " * (i % 4) or None, n_user_turns=1 + i % 2))
    table = exchanges(rows)
    return stat_input(table, compute_signals(table))


def _same(a: pa.Table, b: pa.Table) -> None:
    a, b = a.sort_by("account_id"), b.sort_by("account_id")
    assert a.column_names == b.column_names
    for name in a.column_names:
        left, right = a.column(name).to_pylist(), b.column(name).to_pylist()
        if isinstance(left[0], float):
            np.testing.assert_allclose(left, right, rtol=1e-9, err_msg=name)
        else:
            assert left == right, name


def test_streaming_one_exchange_at_a_time_agrees_with_batch() -> None:
    batch = _traffic()
    whole = AccountStats()
    whole.update(batch)
    online = OnlineAccountStats(max_accounts=100)
    for i in range(batch.num_rows):
        online.update(batch.slice(i, 1))
    _same(whole.get(), online.features(["acct-0", "acct-1", "acct-2"]))


def test_blobs_round_trip_and_merge_like_the_statistics() -> None:
    batch = _traffic()
    whole = AccountStats()
    whole.update(batch)
    blob = None
    for start in range(0, batch.num_rows, 7):  # two replicas' partial views, merged in time order
        part = AccountStats()
        window = batch.slice(start, 7)
        part.update(window.filter(pa.compute.equal(window.column("account_id"), "acct-1")))
        if len(part):
            blob = merge_blob(blob, part, "acct-1")
    assert len(blob) == blob_size()
    _same(whole.pool({"acct-1": ["acct-1"]}).get(), AccountStats.from_bytes(blob, "acct-1").get())
    assert AccountStats.from_bytes(blob, "acct-1").to_bytes("acct-1") == blob


def test_memory_is_bounded_by_max_accounts() -> None:
    online = OnlineAccountStats(max_accounts=10)
    for i in range(50):
        online.update(stat_input(t := exchanges([exchange(i, account_id=f"a{i}")]), compute_signals(t)))
    assert len(online) <= 10 and len(online.stats) <= 10
    assert online.features(["a49"]).num_rows == 1 and online.features(["a0"]).num_rows == 0


def test_bad_blobs_are_rejected_and_replaced_on_merge() -> None:
    with pytest.raises(ValueError, match="not readable"):
        AccountStats.from_bytes(b"\x01\x07abc", "a")
    part = AccountStats()
    part.update(_traffic().slice(0, 3))
    assert merge_blob(b"\x01\x07abc", part, "acct-0") == part.to_bytes("acct-0")


def test_a_blob_counted_under_other_task_rules_starts_the_account_afresh() -> None:
    """After an upgrade that counts tasks otherwise, a replica's shared blob of the old rules is not merged into."""
    part = AccountStats()
    part.update(_traffic().slice(0, 3))
    blob = bytearray(part.to_bytes("acct-0"))
    assert blob[1] == TASK_RULES
    blob[1] = TASK_RULES - 1
    with pytest.raises(ValueError, match="task rules"):
        AccountStats.from_bytes(bytes(blob), "acct-0")
    more = AccountStats()
    more.update(_traffic().slice(3, 2))
    assert merge_blob(bytes(blob), more, "acct-0") == more.to_bytes("acct-0")
    stale = pa.table({"account_id": ["acct-0"], "stats": pa.array([bytes(blob)], pa.binary())})
    with pytest.raises(ValueError, match="task rules"):
        AccountStats.from_table(stale)
