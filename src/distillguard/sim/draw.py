"""Drawing helpers for families: log-uniform sizes, random weight tables, choices with odds."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Draw:
    """What one draw of a family knows: its random stream and the scenario it goes into."""

    rng: random.Random
    index: int
    scale: float
    hours: float
    new_model: str
    released_hour: float

    def loguniform(self, lo: float, hi: float) -> float:
        """A value between ``lo`` and ``hi``, uniform in log space."""
        return math.exp(self.rng.uniform(math.log(lo), math.log(hi)))

    def count(self, lo: float, hi: float, *, scaled: bool = True) -> int:
        """A log-uniform count between ``lo`` and ``hi`` (times the scale when ``scaled``), at least 1."""
        factor = self.scale if scaled else 1.0
        return max(1, round(self.loguniform(lo, hi) * factor))

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def pick(self, options: dict[T, float]) -> T:
        """One key of ``options``, drawn in proportion to its odds (keys taken in the order given)."""
        keys = list(options)
        return self.rng.choices(keys, weights=[options[k] for k in keys])[0]

    def weights(self, keys: Sequence[str], *, at_least: int = 1, at_most: int | None = None) -> dict[str, float]:
        """Random weights over a random subset of ``keys`` (between ``at_least`` and ``at_most`` keys)."""
        hi = min(len(keys), at_most if at_most is not None else len(keys))
        chosen = self.rng.sample(list(keys), self.rng.randint(min(at_least, hi), hi))
        raw = [self.rng.expovariate(1.0) + 0.05 for _ in chosen]
        total = sum(raw)
        return {k: round(v / total, 3) for k, v in zip(chosen, raw)}

    def share(self, lo: float, hi: float, *, zero: float = 0.0) -> float:
        """A share between ``lo`` and ``hi``; exactly 0 with probability ``zero``."""
        return 0.0 if self.chance(zero) else round(self.rng.uniform(lo, hi), 3)
