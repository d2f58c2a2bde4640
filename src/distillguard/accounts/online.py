"""Account statistics for the online path: bounded in memory, or shared as mergeable blobs.

The same :class:`AccountStats` as batch analysis: online state is fed small
batches of exchanges with their signals, and an account's fingerprint is the
same whichever way its exchanges arrived. ``OnlineAccountStats`` keeps the
most recently active accounts only; :func:`merge_blob` folds new statistics
of an account into its blob (:meth:`AccountStats.to_bytes`), which replicas
share in a store.
"""

from __future__ import annotations

from collections import OrderedDict

import pyarrow as pa

from distillguard.accounts.network import IpIntel
from distillguard.accounts.sketch import UNKEYED, SketchKey, SketchKeyError
from distillguard.accounts.stats import AccountStats


class OnlineAccountStats:
    """Statistics of at most ``max_accounts`` accounts, the least recently active dropped first.

    The arrays are sized for ``max_accounts`` rows up front (pages are only
    committed as rows are used), so memory is known at start and never doubles.
    """

    def __init__(self, intel: IpIntel | None = None, max_accounts: int = 100_000, key: SketchKey = UNKEYED) -> None:
        if max_accounts < 2:
            raise ValueError(f"max_accounts must be at least 2, not {max_accounts}")
        self.intel = intel if intel is not None else IpIntel()
        self.max_accounts = max_accounts
        self.stats = AccountStats(self.intel, key=key)
        self.stats.reserve(max_accounts + 1)
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
        self.stats.reserve(self.max_accounts + 1)

    def features(self, accounts: list[str]) -> pa.Table:
        """The fingerprints of ``accounts`` (those still tracked), one row each."""
        return self.stats.pool({a: [a] for a in accounts if a in self._recent}).get()

    def merge_account(self, account: str, other: AccountStats) -> None:
        """Fold another replica's statistics of ``account`` into these."""
        self.stats.merge(other.pool({account: [account]}))
        self._recent[account] = None
        self._recent.move_to_end(account)


def merge_blob(old: bytes | None, delta: AccountStats, account: str) -> bytes:
    """The blob of ``account`` (:meth:`AccountStats.to_bytes`) after folding ``delta``'s statistics of it into ``old``.

    :class:`~distillguard.accounts.sketch.SketchKeyError` if ``old`` was counted under another sketch key; a blob
    of another layout (an older version's) is replaced.
    """
    try:
        merged = AccountStats.from_bytes(old, account, delta.intel, delta.key) if old is not None else None
    except SketchKeyError as exc:
        raise SketchKeyError(f"the shared statistics of {account} were counted under another sketch key") from exc
    except ValueError:
        merged = None
    if merged is None:
        return delta.to_bytes(account)
    merged.merge(delta.pool({account: [account]}))
    return merged.to_bytes(account)
