import numpy as np

from distillguard.accounts.sketch import _leading_zeros64, hll_add
from distillguard.core.ids import splitmix64


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
