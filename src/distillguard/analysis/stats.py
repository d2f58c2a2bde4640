"""Account statistics over the stored traffic, kept between runs, and the signals judged against its whole population.

:func:`build_stats` reads only the exchanges stored since the last run: the store keeps a partial per
account and UTC day and each account's total (:mod:`distillguard.store.account_days`). New exchanges
that come after everything an account's kept statistics hold are merged in (sums add, sketches take the
maximum, the gap to the previous exchange counts as :meth:`AccountStats.update` would count it); an
account's day that new exchanges fall inside of is made again from that day's exchanges, and its total
merged again from its days in day order. Either way the statistics are those of one pass over all
exchanges in time order, up to the rounding of float sums.

The sketches are keyed (:class:`~distillguard.accounts.sketch.SketchKey`) with the store's secret,
:func:`sketch_key`: generated on the first run and kept in the store, or ``DISTILLGUARD_SKETCH_KEY``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime
from typing import cast

import iporigin
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.accounts import STAT_INPUT_COLUMNS, STAT_SIGNAL_COLUMNS, SWEEP_COLUMN, AccountStats, IpIntel
from distillguard.accounts.exits import young_exit_excess
from distillguard.accounts.identity import client_consistency, established_accounts
from distillguard.accounts.parameters import NEAR_TOP, parameter_signals
from distillguard.accounts.risk import POPULATION_COLUMNS
from distillguard.accounts.sketch import SketchKey
from distillguard.accounts.stats import (
    COUNTED_ELICITATION_THRESHOLD,
    ELICITATION_THRESHOLD,
    SESSION_GAP_MS,
    TASK_RULES,
    blob_size,
)
from distillguard.analysis.timings import Timings
from distillguard.campaigns.indicators import ACTIVITY_BUCKET_MINUTES
from distillguard.store import Store, account_days, traffic, traffic_days
from distillguard.store.console import kept_setting
from distillguard.store.source import SqlSource
from distillguard.store.traffic import stat_input_batches

_COLUMNS = (*STAT_INPUT_COLUMNS, SWEEP_COLUMN)
_FROM_SIGNALS = {*STAT_SIGNAL_COLUMNS, SWEEP_COLUMN}


def stored_batches(store: Store, batch_size: int) -> Iterator[pa.Table]:
    """Every stored exchange with its signals, in time order, as statistics input (the sweep column too)."""
    return stat_input_batches(store, _COLUMNS, _FROM_SIGNALS, batch_size)


SKETCH_KEY_ENV = "DISTILLGUARD_SKETCH_KEY"


def sketch_key(store: Store) -> SketchKey:
    """The key of the store's statistics: ``DISTILLGUARD_SKETCH_KEY`` when set (any text; stores and runs that
    must give equal figures share it), else a secret generated on the store's first run and kept in it."""
    text = os.environ.get(SKETCH_KEY_ENV, "").strip() or kept_setting(store, "sketch_key", secrets.token_hex(32))
    return SketchKey.from_secret(text.encode("utf-8"))


def stats_fingerprint(intel: IpIntel, key: SketchKey) -> str:
    """What kept statistics depend on beside the exchanges: the blob layout, the thresholds, what the task counters
    count, the IP intelligence and the sketch key (its tag: statistics under another key are made again)."""
    h = hashlib.sha256(repr((blob_size(), ELICITATION_THRESHOLD, COUNTED_ELICITATION_THRESHOLD, SESSION_GAP_MS, TASK_RULES,
                             iporigin.__version__, sorted(intel.exact.items()), key.tag)).encode())
    for column in (intel.v4.starts, intel.v4.ends, intel.v4.kinds):
        h.update(column.tobytes())
    return h.hexdigest()


def pending_exchanges(store: Store, intel: IpIntel) -> int:
    """How many stored exchanges :func:`build_stats` will read (those its kept statistics do not hold)."""
    return account_days.pending(store, stats_fingerprint(intel, sketch_key(store))).rows


def build_stats(store: Store, intel: IpIntel, batch_size: int, advance: Callable[[int], None] = lambda n: None,
                timings: Timings | None = None) -> AccountStats:
    """Account statistics over everything in the store, the kept ones brought up to date first (see the module);
    ``advance`` is told the new exchanges of each batch read, ``timings`` each step.

    ``intel`` also learns the kept origin of every stored address, looked up once when its first exchange was
    folded in (the population signals classify every stored address: one lookup costs about 0.2 ms).
    """
    timings = timings or Timings()
    key = sketch_key(store)
    fingerprint = stats_fingerprint(intel, key)
    # The traffic aggregates are folded in on a connection and thread of their own meanwhile: DuckDB's work (other
    # tables) beside the statistics', much of which is Python on one core (large's rebuilt: 82 -> 79 s on 2 cores).
    with store.twin() as side, ThreadPoolExecutor(1) as pool:
        aggregating = pool.submit(_traffic_aside, timings.aside("traffic aggregates"), side)
        with store.transaction("account statistics not kept"):
            with timings.phase("new rows listed"):
                new = account_days.unfolded(store, fingerprint)
            with timings.phase("kept address origins read"):
                origins = account_days.kept_origins(store)
                intel.remember(origins.column("ip").to_pylist(), origins.column("origin").to_numpy())
            if new.rows:
                with timings.phase("new exchanges folded in"):
                    _fold(store, intel, key, new, batch_size, advance, timings)
                with timings.phase("new addresses looked up"):
                    ips = account_days.new_addresses(store, new)
                    account_days.keep_origins(store, pa.table({"ip": pa.array(ips, pa.string()),
                                                               "origin": intel.origins(pa.array(ips, pa.string()))}))
            account_days.mark_folded(store, new, fingerprint)
        with timings.phase("waiting for the traffic aggregates"):
            aggregating.result()
    with timings.phase("totals read"):
        return AccountStats.from_table(account_days.total_stats(store), intel, key)


def _traffic_aside(timed: AbstractContextManager[None], store: Store) -> None:
    with timed:
        traffic_days.fold(store, ACTIVITY_BUCKET_MINUTES * 60)


def _fold(store: Store, intel: IpIntel, key: SketchKey, new: account_days.Unfolded, batch_size: int,
          advance: Callable[[int], None], timings: Timings) -> None:
    """Fold the new rows into the kept partials of their days and the kept totals of their accounts."""
    days = cast(pl.DataFrame, pl.from_arrow(account_days.new_account_days(store)))
    behind = days.filter(pl.col("behind")).get_column("account_id").unique().to_list()
    ahead = days.filter(~pl.col("behind")).get_column("account_id").unique().to_list()
    totals = AccountStats.from_table(account_days.total_stats(store, ahead), intel, key)
    for (day,), rows in days.group_by("day", maintain_order=True):
        late = rows.filter(pl.col("late")).get_column("account_id").to_list()
        fresh = AccountStats(intel, key=key)
        with timings.phase("read and counted"):
            for batch in account_days.new_day_batches(store, new, day, late, _COLUMNS, _FROM_SIGNALS, batch_size):
                fresh.update(batch)
                advance(batch.num_rows)
        with timings.phase("day partials kept"):
            kept = AccountStats.from_table(account_days.day_stats(store, day, rows.filter(~pl.col("late"))
                                                                  .get_column("account_id").to_list()), intel, key)
            if len(kept):
                kept.merge(fresh)
            else:  # no partials of the day kept yet (always on a first run): the new ones are the day's, no copy
                kept = fresh
            redone = AccountStats(intel, key=key)
            for batch in account_days.day_batches(store, new, day, late, _COLUMNS, _FROM_SIGNALS, batch_size) if late else ():
                redone.update(batch)
            account_days.keep_day_stats(store, day, pa.concat_tables([kept.to_table(), redone.to_table()]))
            del kept, redone
        if not new.since:  # a rebuild: nothing is marked as held until the end, so each day may be committed
            with timings.phase("day committed"):  # (DuckDB held the whole rebuild's partials in memory: 1.6 GB of
                store.commit_so_far()  # large's peak)
        with timings.phase("merged into the totals"):
            totals.merge(fresh)
        advance(int(rows.filter(pl.col("late")).get_column("n").sum()))
    with timings.phase("totals kept"):
        merged = AccountStats(intel, key=key)
        for partials in account_days.account_day_stats(store, behind):
            merged.merge(AccountStats.from_table(partials, intel, key))
        ahead_totals = totals.to_table()
        if behind:
            ahead_totals = ahead_totals.filter(pc.invert(pc.is_in(ahead_totals.column("account_id"),
                                                                  pa.array(behind, pa.string()))))
        account_days.keep_total_stats(store, pa.concat_tables([ahead_totals, merged.to_table()]))


def population_signals(store: SqlSource, intel: IpIntel, until: datetime | None = None) -> pa.Table:
    """``account_id`` and :data:`POPULATION_COLUMNS` for every stored account, one row each.

    Request parameters (:mod:`~distillguard.accounts.parameters`), client-identity consistency
    (:mod:`~distillguard.accounts.identity`, learned from the established accounts) and exits shared by young accounts
    (:mod:`~distillguard.accounts.exits`), each learned from the stored exchanges before ``until``
    (all when None); the gateway scores online without a population, so there these columns are absent.
    All of the traffic is read from the store's kept per-day aggregates when they hold it
    (:mod:`distillguard.store.traffic_days`, brought up to date by :func:`build_stats`).
    """
    if until is None and isinstance(store, Store) and traffic_days.kept_slot(store) is not None:
        exits = traffic_days.account_exits(store)
        parts = (
            parameter_signals(traffic_days.request_parameters(store, NEAR_TOP)),
            client_consistency(traffic_days.client_pairs(store), established_accounts(exits)),
            young_exit_excess(exits, intel),
        )
    else:
        exits = traffic.account_exits(store, until)
        parts = (
            parameter_signals(traffic.request_parameters(store, NEAR_TOP, until)),
            client_consistency(traffic.client_pairs(store, until), established_accounts(exits)),
            young_exit_excess(exits, intel),
        )
    frames = [cast(pl.DataFrame, pl.from_arrow(part)) for part in parts]
    joined = frames[0]
    for frame in frames[1:]:
        joined = joined.join(frame, on="account_id", how="full", coalesce=True)
    return joined.sort("account_id").select("account_id", *POPULATION_COLUMNS).to_arrow()


def account_features(store: SqlSource, stats: AccountStats, until: datetime | None = None,
                     timings: Timings | None = None) -> pa.Table:
    """The account fingerprints (:meth:`AccountStats.get`) with :func:`population_signals` joined on, row order kept;
    ``timings`` records the two."""
    timings = timings or Timings()
    with timings.phase("features from the statistics"):
        features = stats.get()
    with timings.phase("population signals"):
        population = population_signals(store, stats.intel, until)
    rows = pc.index_in(features.column("account_id"), value_set=population.column("account_id"))
    for name in POPULATION_COLUMNS:
        features = features.append_column(name, population.column(name).take(rows))
    return features
