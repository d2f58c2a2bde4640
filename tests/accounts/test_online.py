import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts import AccountStats, stat_input
from distillguard.accounts.online import OnlineAccountStats, merge_blob
from distillguard.accounts.sketch import UNKEYED, SketchKey, SketchKeyError
from distillguard.accounts.stats import _SKETCHES as _SKETCH_NAMES
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
        AccountStats.from_bytes(b"\x01\x07abcdefgh", "a")
    with pytest.raises(ValueError, match="truncated"):
        AccountStats.from_bytes(b"\x06\x07", "a")
    part = AccountStats()
    part.update(_traffic().slice(0, 3))
    assert merge_blob(b"\x01\x07abcdefgh", part, "acct-0") == part.to_bytes("acct-0")


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


def test_statistics_of_another_sketch_key_are_never_merged() -> None:
    """Statistics keyed otherwise are an error, not an account started afresh: two replicas keyed otherwise would
    wipe each other's statistics in turn."""
    ours, theirs = SketchKey.from_secret(b"ours"), SketchKey.from_secret(b"theirs")
    assert ours.tag != theirs.tag and ours != UNKEYED
    part, other = AccountStats(key=ours), AccountStats(key=theirs)
    part.update(_traffic().slice(0, 3))
    other.update(_traffic().slice(3, 3))
    blob = other.to_bytes("acct-0")
    with pytest.raises(SketchKeyError):
        AccountStats.from_bytes(blob, "acct-0", key=ours)
    with pytest.raises(SketchKeyError, match="acct-0 were counted under another sketch key"):
        merge_blob(blob, part, "acct-0")
    with pytest.raises(SketchKeyError):
        AccountStats.from_table(other.to_table(), key=ours)
    with pytest.raises(SketchKeyError):
        part.merge(other)
    assert AccountStats.from_bytes(blob, "acct-0", key=theirs).to_bytes("acct-0") == blob


def test_the_key_moves_every_sketch_and_nothing_else() -> None:
    """Keyed and unkeyed statistics of one traffic agree on every count; the sketches' registers differ."""
    plain, keyed = AccountStats(), AccountStats(key=SketchKey.from_secret(b"k"))
    for stats in (plain, keyed):
        stats.update(_traffic())
    a, b = plain.to_bytes("acct-1"), keyed.to_bytes("acct-1")
    widths = [plain._widths[name] for name in _SKETCH_NAMES]
    sketches = blob_size() - sum(widths)
    assert a[7:sketches] == b[7:sketches]
    bounds = sketches + np.cumsum([0, *widths])
    held = [i for i in range(len(_SKETCH_NAMES)) if any(a[bounds[i]:bounds[i + 1]])]
    assert {"ip", "client", "prompt", "task_prompt", "hour_bucket"} <= {_SKETCH_NAMES[i] for i in held}
    for i in held:
        assert a[bounds[i]:bounds[i + 1]] != b[bounds[i]:bounds[i + 1]], _SKETCH_NAMES[i]
