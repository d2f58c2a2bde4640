"""Request-parameter signals per account: maxed reasoning requests and daily sweeps."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts.parameters import parameter_signals, sweep


def test_parameter_signals_from_the_stores_counts() -> None:
    params = pa.table({
        "account_id": ["harvester", "sampler", "person"],
        "n": pa.array([10, 8, 3], pa.int64()),
        "n_maxed": pa.array([9, 0, 0], pa.int64()),
        "daily_models": pa.array([1, 6, 2], pa.int64()),
        "daily_settings": pa.array([1, 5, 0], pa.int64()),
    })
    got = {r["account_id"]: r for r in parameter_signals(params).to_pylist()}
    assert got["harvester"]["maxed_reasoning_share"] == pytest.approx(0.9)
    assert (got["harvester"]["model_sweep"], got["harvester"]["reasoning_sweep"]) == (0.0, 0.0)
    assert (got["sampler"]["model_sweep"], got["sampler"]["reasoning_sweep"]) == (1.0, 1.0)
    assert (got["person"]["model_sweep"], got["person"]["reasoning_sweep"]) == (0.0, 0.0)  # two models: usual


def test_sweep_grows_with_distinct_values_and_saturates() -> None:
    assert sweep(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0])).tolist() == pytest.approx([0, 0, 0, 1 / 3, 2 / 3, 1, 1])
