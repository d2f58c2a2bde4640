"""Time: daily and weekly rhythms in local time, per-hour Poisson session starts, seeds."""

from __future__ import annotations

import random

import numpy as np
import xxhash

HOUR_MS = 3_600_000

# 24 hourly weights (local time, hour 0 = midnight); normalised to mean 1 below.
_DAILY = {
    "consumer": [3, 2, 1.2, .8, .6, .6, 1, 2, 3.5, 4.5, 5, 5.2, 5.5, 5.5, 5.3, 5.2, 5.3, 5.6, 6, 6.5, 7, 7, 6, 4.5],
    "work": [.4, .2, .1, .1, .1, .2, .5, 1.5, 4, 7, 8, 8, 6.5, 7, 8, 8, 7.5, 6, 3.5, 2.5, 2, 1.8, 1.3, .8],
    "student": [4, 3, 1.8, .8, .4, .3, .3, .6, 1.5, 3, 4, 4.5, 4.5, 5, 5.5, 6, 6, 5.5, 5.5, 6.5, 7.5, 8, 7.5, 6],
    "research": [1.5, 1, .8, .6, .5, .5, .7, 1.5, 3, 5, 6, 6, 5, 6, 6.5, 6.5, 6, 5, 3.5, 3, 3, 3, 2.5, 2],
    "nightly": [6, 8, 8, 8, 6, 1, .1, .05, .05, .05, .05, .05, .05, .05, .05, .05, .05, .05, .05, .05, .05, .1, .5, 3],
    "flat": [1.0] * 24,
    "business": [.6, .5, .5, .5, .6, .7, .9, 1.2, 1.5, 1.6, 1.6, 1.6, 1.5, 1.6, 1.6, 1.6, 1.5, 1.3, 1.1, 1, .9, .8, .7, .6],
}
# Monday .. Sunday
_WEEKLY = {
    "consumer": [1, 1, 1, 1, .95, 1.05, 1.1],
    "work": [1.25, 1.3, 1.3, 1.25, 1.1, .3, .25],
    "student": [1.15, 1.15, 1.1, 1.05, .75, .65, 1.2],
    "research": [1.15, 1.2, 1.2, 1.15, 1.05, .6, .6],
    "nightly": [1.1, 1.1, 1.1, 1.1, 1.1, .8, .7],
    "flat": [1.0] * 7,
    "business": [1.2, 1.2, 1.2, 1.2, 1.1, .55, .55],
}


def _norm(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return arr / arr.mean()


DAILY = {k: _norm(v) for k, v in _DAILY.items()}
WEEKLY = {k: _norm(v) for k, v in _WEEKLY.items()}


def derive_seed(seed: int, *names: str) -> int:
    """A stable sub-seed for a named part of the simulation (independent of dict order)."""
    return xxhash.xxh64_intdigest("\x1f".join((str(seed), *names)).encode())


def rngs(seed: int, *names: str) -> tuple[random.Random, np.random.Generator]:
    """A ``random.Random`` and a numpy ``Generator`` seeded for ``names``."""
    s = derive_seed(seed, *names)
    return random.Random(s), np.random.default_rng(s)


def rhythm(daily: str, weekly: str, utc_ms: int, tz: np.ndarray | float) -> np.ndarray | float:
    """Relative activity (mean 1) at ``utc_ms`` for people at UTC offsets ``tz`` (hours)."""
    local_h = utc_ms / HOUR_MS + tz
    hour = np.floor(local_h).astype(np.int64) % 24 if isinstance(tz, np.ndarray) else int(local_h // 1) % 24
    day = np.floor(local_h / 24).astype(np.int64) if isinstance(tz, np.ndarray) else int(local_h // 24)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    return DAILY[daily][hour] * WEEKLY[weekly][weekday]


def session_starts(
    rng: np.random.Generator, rates: np.ndarray, hour_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson session starts in one hour: (account index, start ms), sorted by time."""
    counts = rng.poisson(rates)
    idx = np.repeat(np.arange(len(rates)), counts)
    starts = hour_ms + rng.integers(0, HOUR_MS, size=len(idx))
    order = np.argsort(starts, kind="stable")
    return idx[order], starts[order]


def volume_weights(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Heavy-tailed per-account shares of a volume (lognormal), summing to 1."""
    w = rng.lognormal(0.0, sigma, size=n) if sigma > 0 else np.ones(n)
    return w / w.sum()
