"""Request-parameter signals per account: maxed reasoning requests, model and reasoning-setting sweeps.

A harvester wants the longest trace the model will write, so it maxes the
reasoning request (a thinking budget at the largest any account sends to that
model, or effort ``high``); a driver that samples a teacher across models or
reasoning settings sweeps them, many distinct values within a day, which a
person at a client almost never does. ``max_tokens`` is not in the exchange
schema, so the budget is compared with the model's population-wide largest
budget rather than with the request's allowance.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NEAR_TOP = 0.9
"""A thinking budget at this share of the model's largest budget in the population or more is maxed."""
USUAL_VALUES = 2
"""Distinct models (or reasoning settings) in one day that are no sweep at all: a fast and a strong model, say."""
SWEEP_VALUES = 5
"""Distinct models (or reasoning settings) in one day that make a full sweep."""
PARAMETER_COLUMNS: tuple[str, ...] = ("maxed_reasoning_share", "model_sweep", "reasoning_sweep")
"""The columns :func:`parameter_signals` adds per account."""


def parameter_signals(params: pa.Table) -> pa.Table:
    """Per-account parameter signals from the store's ``request_parameters`` table.

    ``maxed_reasoning_share``: share of requests with a maxed reasoning request; ``model_sweep`` and
    ``reasoning_sweep``: :func:`sweep` of the most distinct models (reasoning settings) the account
    used in one day.
    """
    n = np.maximum(_values(params, "n"), 1.0)
    return pa.table({
        "account_id": params.column("account_id"),
        "maxed_reasoning_share": pa.array(_values(params, "n_maxed") / n),
        "model_sweep": pa.array(sweep(_values(params, "daily_models"))),
        "reasoning_sweep": pa.array(sweep(_values(params, "daily_settings"))),
    })


def sweep(distinct: np.ndarray) -> np.ndarray:
    """How much ``distinct`` values within a day look like a sweep: 0 up to :data:`USUAL_VALUES`, 1 from
    :data:`SWEEP_VALUES`, linear between."""
    return np.clip((distinct - USUAL_VALUES) / (SWEEP_VALUES - USUAL_VALUES), 0.0, 1.0)


def _values(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(pc.fill_null(table.column(name), 0).to_numpy(), np.float64)
