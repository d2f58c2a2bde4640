"""Account statistics for the online path: bounded in memory, or shared as mergeable blobs.

The same :class:`AccountStats` as batch analysis: online state is fed small
batches of exchanges with their signals, and an account's fingerprint is the
same whichever way its exchanges arrived. ``OnlineAccountStats`` keeps the
most recently active accounts only; ``encode_account`` / ``decode_account``
turn one account's statistics into a fixed-size blob that replicas merge in a
shared store.
"""

from __future__ import annotations

import struct
from collections import OrderedDict

import numpy as np
import pyarrow as pa

from distillguard.accounts.network import IpIntel
from distillguard.accounts.stats import _SKETCHES, _SUMS, AccountStats
from distillguard.core.schema import CAPABILITIES

_HEADER = struct.Struct("<BB")
_BLOB_VERSION = 1


class OnlineAccountStats:
    """Statistics of at most ``max_accounts`` accounts, the least recently active dropped first.

    The arrays are sized for ``max_accounts`` rows up front (pages are only
    committed as rows are used), so memory is known at start and never doubles.
    """

    def __init__(self, intel: IpIntel | None = None, max_accounts: int = 100_000) -> None:
        if max_accounts < 2:
            raise ValueError(f"max_accounts must be at least 2, not {max_accounts}")
        self.intel = intel if intel is not None else IpIntel()
        self.max_accounts = max_accounts
        self.stats = AccountStats(self.intel)
        self.stats._grow(max_accounts + 1)
        self._recent: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._recent)

    def update(self, batch: pa.Table) -> list[str]:
        """Add exchanges with their signals (``STAT_INPUT_COLUMNS``); return the accounts touched."""
        if batch.num_rows == 0:
            return []
        self.stats.update(batch)
        touched = list(dict.fromkeys(batch.column("account_id").to_pylist()))
        for account in touched:
            self._recent[account] = None
            self._recent.move_to_end(account)
        if len(self._recent) > self.max_accounts:
            self._compact()
        return touched

    def _compact(self) -> None:
        """Keep the most recent half of the accounts (amortised: one rebuild per max/2 new accounts)."""
        while len(self._recent) > self.max_accounts // 2:
            self._recent.popitem(last=False)
        self.stats = self.stats.pool({a: [a] for a in self._recent})
        self.stats._grow(self.max_accounts + 1)

    def features(self, accounts: list[str]) -> pa.Table:
        """The fingerprints of ``accounts`` (those still tracked), one row each."""
        return self.stats.pool({a: [a] for a in accounts if a in self._recent}).get()

    def merge_account(self, account: str, other: AccountStats) -> None:
        """Fold another replica's statistics of ``account`` into these."""
        self.stats.merge(other.pool({account: [account]}))
        self._recent[account] = None
        self._recent.move_to_end(account)


def blob_size(precision: int = 7) -> int:
    """Bytes of one account's blob."""
    width = 1 << precision
    return _HEADER.size + 8 * (len(_SUMS) + len(CAPABILITIES) + 24 + 2) + len(_SKETCHES) * width


def encode_account(stats: AccountStats, account: str) -> bytes:
    """One account's statistics as a fixed-size blob (raises KeyError if it has none)."""
    row = stats._index[account]
    precision = stats.width.bit_length() - 1
    parts = [
        _HEADER.pack(_BLOB_VERSION, precision),
        stats._sums[row].astype("<f8").tobytes(),
        stats._caps[row].astype("<i8").tobytes(),
        stats._hours[row].astype("<i8").tobytes(),
        np.array([stats._first[row], stats._last[row]], "<i8").tobytes(),
        *(stats._hll[name][row].tobytes() for name in _SKETCHES),
    ]
    return b"".join(parts)


def decode_account(blob: bytes, account: str, intel: IpIntel | None = None) -> AccountStats:
    """Statistics holding one account, from :func:`encode_account`'s blob; ValueError if malformed."""
    if len(blob) < _HEADER.size:
        raise ValueError("account blob is truncated")
    version, precision = _HEADER.unpack_from(blob)
    if version != _BLOB_VERSION or len(blob) != blob_size(precision):
        raise ValueError(f"account blob of version {version} and {len(blob)} bytes is not readable")
    stats = AccountStats(intel, precision)
    row = stats._rows([account])[0]
    offset = _HEADER.size

    def take(n: int, dtype: str) -> np.ndarray:
        nonlocal offset
        size = n * np.dtype(dtype).itemsize
        values = np.frombuffer(blob, dtype, n, offset)
        offset += size
        return values

    stats._sums[row] = take(stats._sums.shape[1], "<f8")
    stats._caps[row] = take(len(CAPABILITIES), "<i8")
    stats._hours[row] = take(24, "<i8")
    stats._first[row], stats._last[row] = take(2, "<i8")
    for name in _SKETCHES:
        stats._hll[name][row] = take(stats.width, "u1")
    return stats


def merge_blob(old: bytes | None, delta: AccountStats, account: str) -> bytes:
    """The blob of ``account`` after folding ``delta``'s statistics of it into ``old``."""
    try:
        merged = decode_account(old, account, delta.intel) if old is not None else None
    except ValueError:  # written by a version with another layout: start the account afresh
        merged = None
    if merged is None:
        return encode_account(delta, account)
    merged.merge(delta.pool({account: [account]}))
    return encode_account(merged, account)
