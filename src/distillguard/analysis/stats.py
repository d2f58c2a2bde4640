"""Account statistics over the stored traffic, in time order."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa

from distillguard.accounts import STAT_INPUT_COLUMNS, STAT_SIGNAL_COLUMNS, SWEEP_COLUMN, AccountStats, IpIntel
from distillguard.store import Store
from distillguard.store.traffic import stat_input_batches


def stored_batches(store: Store, batch_size: int) -> Iterator[pa.Table]:
    """Every stored exchange with its signals, in time order, as statistics input (the sweep column too)."""
    return stat_input_batches(store, (*STAT_INPUT_COLUMNS, SWEEP_COLUMN), {*STAT_SIGNAL_COLUMNS, SWEEP_COLUMN},
                              batch_size)


def build_stats(store: Store, intel: IpIntel, batch_size: int, advance: Callable[[int], None] = lambda n: None) -> AccountStats:
    """Account statistics over everything in the store; ``advance`` is told the exchanges of each batch."""
    stats = AccountStats(intel)
    for batch in stored_batches(store, batch_size):
        stats.update(batch)
        advance(batch.num_rows)
    return stats
