"""Wall and CPU seconds and peak memory of an analysis' phases, nested, as the CLI's summary and the pipeline bench
report them."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass


@dataclass
class Phase:
    """One phase: its path of names (outermost first), wall and CPU seconds, the process's peak resident memory
    when it last ended (bytes); ``aside`` when it ran on another thread beside its parent's other phases (so not
    part of their sum)."""

    path: tuple[str, ...]
    wall: float = 0.0
    cpu: float = 0.0
    peak: int = 0
    aside: bool = False


def cpu_seconds() -> float:
    """User and system CPU seconds of this process (all its threads) and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes (its worker processes' are their own)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Timings:
    """Phases in the order they began; a phase entered again under the same parent (a replay's steps) adds up.

    CPU seconds are the whole process's while the phase ran (every thread, and the worker processes that ended
    in it), so a phase :meth:`aside` shares its CPU with the phases it ran beside. The peak memory only grows:
    the first phase whose end shows the run's peak is where it fell.
    """

    def __init__(self) -> None:
        self._phases: dict[tuple[str, ...], Phase] = {}
        self._path: tuple[str, ...] = ()

    @property
    def phases(self) -> list[Phase]:
        """Every phase, each parent before its children."""
        return list(self._phases.values())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as ``name`` under the current phase, and the phases it enters under it."""
        outer = self._path
        self._path = (*outer, name)
        try:
            with self._timed(self._path, aside=False):
                yield
        finally:
            self._path = outer

    def aside(self, name: str) -> AbstractContextManager[None]:
        """Time a block run on another thread as ``name`` under the phase current now (entered on that thread)."""
        return self._timed((*self._path, name), aside=True)

    @contextmanager
    def _timed(self, path: tuple[str, ...], aside: bool) -> Iterator[None]:
        phase = self._phases.setdefault(path, Phase(path, aside=aside))
        wall, cpu = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            phase.wall += time.perf_counter() - wall
            phase.cpu += cpu_seconds() - cpu
            phase.peak = peak_rss()

    def rows(self) -> list[tuple[str, float, float, int | None]]:
        """``(label, wall, cpu, peak)`` for a table, each phase followed by its children indented, an aside phase
        marked, and after a parent's children the wall and CPU seconds none of them account for ("other", peak
        None)."""
        out: list[tuple[str, float, float, int | None]] = []

        def add(phase: Phase) -> None:
            indent = "  " * (len(phase.path) - 1)
            out.append((f"{indent}{phase.path[-1]}{' (beside)' if phase.aside else ''}", phase.wall, phase.cpu,
                        phase.peak))
            children = [c for c in self._phases.values() if c.path[:-1] == phase.path]
            for child in children:
                add(child)
            if children:
                counted = [c for c in children if not c.aside]
                out.append((f"{indent}  other", phase.wall - sum(c.wall for c in counted),
                            phase.cpu - sum(c.cpu for c in counted), None))

        for top in (p for p in self._phases.values() if len(p.path) == 1):
            add(top)
        return out
