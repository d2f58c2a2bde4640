import numpy as np
import pyarrow as pa

from distillguard.accounts import AccountStats, stat_input
from distillguard.accounts.sketch import HashMemo, _leading_zeros64, hll_add
from distillguard.accounts.stats import SketchHashes
from distillguard.core.ids import splitmix64, text_hash64
from distillguard.signals import compute_signals
from factories import exchange, exchanges


def test_leading_zeros_are_exact_at_every_bit_length() -> None:
    one = np.uint64(1)
    powers = one << np.arange(64, dtype=np.uint64)
    # each power of two, one less than it, and values just below and above 2**53, where float64 would round
    edges = np.r_[np.uint64(0), powers, powers - one, (powers - one) | (powers >> one), np.uint64(2**64 - 1),
                  np.arange(2**53 - 3, 2**53 + 3, dtype=np.uint64)]
    values = np.r_[edges, splitmix64(np.arange(10_000)) >> (np.arange(10_000) % 64).astype(np.uint64)]
    expected = [64 - int(v).bit_length() for v in values.tolist()]
    assert _leading_zeros64(values).tolist() == expected


def test_hll_add_keeps_the_largest_rank_of_each_register() -> None:
    rng = np.random.default_rng(3)
    registers = rng.integers(0, 4, (50, 16), dtype=np.uint8)
    rows, hashes = rng.integers(0, 50, 5_000), splitmix64(rng.integers(0, 2**62, 5_000))
    expected = registers.copy()
    for row, h in zip(rows.tolist(), hashes.tolist(), strict=True):
        rest = ((h << 4) & (2**64 - 1)) | (1 << 3)
        expected[row, h >> 60] = max(expected[row, h >> 60], 64 - rest.bit_length() + 1)
    hll_add(registers, rows, hashes)
    assert (registers == expected).all()


def test_hash_memo_hashes_each_value_once_and_starts_over_past_its_bound() -> None:
    calls: list[str] = []

    def hash_of(text: str) -> tuple[int, int]:
        calls.append(text)
        return text_hash64(text), text_hash64(text + "/")

    memo = HashMemo(hash_of, 2, bound=5)
    for values in (["a", "b", "c"], ["c", "a", "d"], ["d"]):
        assert memo.hashes(values).tolist() == [[text_hash64(v), text_hash64(v + "/")] for v in values]
    assert calls == ["a", "b", "c", "d"]
    assert memo.hashes(["e", "f", "a"]).tolist() == [[text_hash64(v), text_hash64(v + "/")] for v in ("e", "f", "a")]
    assert calls[4:] == ["e", "f", "a"] and len(memo) == 3  # 4 kept and 3 more pass the bound of 5: all hashed anew
    assert memo.hashes([]).shape == (0, 2)


def _ip(i: int) -> str:
    return f"81.2.{i % 9}.{i % 7 + 1}" if i % 5 else f"2001:db8::{i % 3}"


def _traffic(offset: int) -> pa.Table:
    rows = [exchange(i, account_id=f"acct-{i % 4}", ip=_ip(i), user_agent=f"client/{i % 3}")
            for i in range(offset, offset + 80)]
    table = exchanges(rows)
    return stat_input(table, compute_signals(table))


def test_statistics_sharing_their_sketch_hashes_keep_the_same_blobs() -> None:
    shared, offsets = SketchHashes(), (0, 40, 200)
    for offset in offsets:
        own, sharing = AccountStats(), AccountStats(hashes=shared)
        own.update(_traffic(offset))
        sharing.update(_traffic(offset))
        assert sharing.to_table().equals(own.to_table())
    assert len(shared.addresses) == len({_ip(i) for offset in offsets for i in range(offset, offset + 80)})
