"""Account statistics over the stored traffic, in time order, and the signals judged against its whole population."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import cast

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.accounts import STAT_INPUT_COLUMNS, STAT_SIGNAL_COLUMNS, SWEEP_COLUMN, AccountStats, IpIntel
from distillguard.accounts.exits import EXIT_COLUMNS, young_exit_excess
from distillguard.accounts.identity import CLIENT_COLUMNS, client_consistency
from distillguard.accounts.parameters import NEAR_TOP, PARAMETER_COLUMNS, parameter_signals
from distillguard.store import Store
from distillguard.store.traffic import account_exits, client_pairs, request_parameters, stat_input_batches


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


POPULATION_COLUMNS: tuple[str, ...] = (*PARAMETER_COLUMNS, *CLIENT_COLUMNS, *EXIT_COLUMNS)
"""Per-account columns judged against the whole stored population (null where an account's log lacks the input)."""


def population_signals(store: Store, intel: IpIntel, until: datetime | None = None) -> pa.Table:
    """``account_id`` and :data:`POPULATION_COLUMNS` for every stored account, one row each.

    Request parameters (:mod:`~distillguard.accounts.parameters`), client-identity consistency
    (:mod:`~distillguard.accounts.identity`) and exits shared by young accounts
    (:mod:`~distillguard.accounts.exits`), each learned from the stored exchanges before ``until``
    (all when None); the gateway scores online without a population, so there these columns are absent.
    """
    parts = (
        parameter_signals(request_parameters(store, NEAR_TOP, until)),
        client_consistency(client_pairs(store, until)),
        young_exit_excess(account_exits(store, until), intel),
    )
    frames = [cast(pl.DataFrame, pl.from_arrow(part)) for part in parts]
    joined = frames[0]
    for frame in frames[1:]:
        joined = joined.join(frame, on="account_id", how="full", coalesce=True)
    return joined.sort("account_id").select("account_id", *POPULATION_COLUMNS).to_arrow()


def account_features(store: Store, stats: AccountStats, until: datetime | None = None) -> pa.Table:
    """The account fingerprints (:meth:`AccountStats.get`) with :func:`population_signals` joined on, row order kept."""
    features = stats.get()
    population = population_signals(store, stats.intel, until)
    rows = pc.index_in(features.column("account_id"), value_set=population.column("account_id"))
    for name in POPULATION_COLUMNS:
        features = features.append_column(name, population.column(name).take(rows))
    return features
