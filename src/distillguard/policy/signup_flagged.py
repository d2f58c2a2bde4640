"""Likeness to flagged accounts: the e-mail local parts of flagged accounts, by shape and character 3-grams."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import Counter

import pyarrow as pa

from distillguard.core.email import local_shape


def trigrams(local: str) -> frozenset[str]:
    """Character 3-grams of a lower-cased local part, padded at both ends."""
    text = f"^{local.lower()}$"
    return frozenset(text[i : i + 3] for i in range(len(text) - 2))


class FlaggedPatterns:
    """Email local parts of flagged accounts, with when each was flagged, for shape and n-gram lookups."""

    def __init__(self, flagged: list[tuple[str, int | None]]) -> None:
        self._at = [at if at is not None else -1 for _, at in flagged]
        self._grams = [trigrams(local) for local, _ in flagged]
        self._times = sorted(self._at)
        self._shapes: dict[str, list[int]] = {}
        self._postings: dict[str, list[int]] = {}
        for i, (local, _) in enumerate(flagged):
            insort(self._shapes.setdefault(local_shape(local), []), self._at[i])
            for gram in self._grams[i]:
                self._postings.setdefault(gram, []).append(i)

    @classmethod
    def from_table(cls, flagged: pa.Table) -> FlaggedPatterns:
        """Patterns of a table ``email_local, at`` (epoch ms when flagged, or null), as
        :func:`distillguard.store.signups.latest_flagged_locals` reads it."""
        return cls([(row["email_local"], row["at"]) for row in flagged.to_pylist()])

    def __len__(self) -> int:
        return len(self._at)

    def flagged_before(self, until: int, shape: str | None = None) -> int:
        """Flagged by ``until`` (ms): all, or with the given shape."""
        times = self._times if shape is None else self._shapes.get(shape, [])
        return bisect_right(times, until)

    def nearest(self, local: str, until: int) -> float:
        """Highest 3-gram Jaccard similarity to a local part flagged by ``until`` (0 when none)."""
        grams = trigrams(local)
        shared: Counter[int] = Counter()
        for gram in grams:
            for i in self._postings.get(gram, ()):
                if self._at[i] <= until:
                    shared[i] += 1
        return max((n / (len(grams) + len(self._grams[i]) - n) for i, n in shared.items()), default=0.0)


__all__ = ["FlaggedPatterns", "trigrams"]
