"""The console's access to the store: one short connection per call, never held between requests.

DuckDB lets one process write a file at a time, and a process holding it open
(even read-only) keeps others from writing: the gateway writes its overrides
and an analysis its runs into the same store. So each call opens the store,
runs one function on it and closes it. Reads of this process run side by side
(read-only connections share one database); a write waits for them and runs
alone (DuckDB refuses a read-only and a writing connection at once in one
process), and new reads wait behind a waiting write. An open the store refuses
(another process writing) is tried again until ``busy_timeout_s``. What is
only worth writing when it costs no one a wait (views kept for the next reader)
is written only if the store is idle (:meth:`ConsoleDb.run_if_idle`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from distillguard.core.errors import StoreError
from distillguard.store import Store

T = TypeVar("T")
_RETRY_S = 0.05


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer keeps new readers out (no writer starves)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    @contextmanager
    def writing_if_idle(self, wait_s: float) -> Iterator[bool]:
        """Write alone if no one reads, writes or waits within ``wait_s``, without keeping readers out meanwhile;
        whether it may."""
        with self._cond:
            free = self._cond.wait_for(lambda: not self._writing and not self._readers and not self._waiting, wait_s)
            if free:
                self._writing = True
        try:
            yield free
        finally:
            if free:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()


class ConsoleDb:
    """Runs functions on the store at ``path``, each on a connection of its own (see the module doc)."""

    def __init__(self, path: Path, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._lock = _ReadWriteLock()

    def run(self, fn: Callable[[Store], T], *, write: bool = False) -> T:
        """``fn`` of the store, opened read-only unless ``write``; StoreError if it stays busy or fails."""
        if not self.path.exists():
            raise StoreError(f"{self.path}: store not found")
        deadline = time.monotonic() + self.busy_timeout_s
        with self._lock.writing() if write else self._lock.reading():
            while True:
                store = Store(self.path, read_only=not write)
                try:
                    store.open()
                    break
                except StoreError as exc:
                    if time.monotonic() >= deadline:
                        raise StoreError(f"{self.path}: store busy for {self.busy_timeout_s:g} s: {exc}") from exc
                time.sleep(_RETRY_S)
            try:
                return fn(store)
            finally:
                store.close()

    def run_if_idle(self, fn: Callable[[Store], object], wait_s: float = 1.0) -> bool:
        """``fn`` of the store opened for writing, only if that keeps no one waiting: no other call of this process
        within ``wait_s`` and no other process holding the store; whether it ran (a failing ``fn`` raises)."""
        if not self.path.exists():
            raise StoreError(f"{self.path}: store not found")
        with self._lock.writing_if_idle(wait_s) as free:
            if not free:
                return False
            store = Store(self.path)
            try:
                store.open()
            except StoreError:
                return False
            try:
                fn(store)
            finally:
                store.close()
        return True

    async def read(self, fn: Callable[[Store], T]) -> T:
        """``fn`` of the store opened read-only, off the event loop."""
        return await run_in_threadpool(self.run, fn)

    async def write(self, fn: Callable[[Store], T]) -> T:
        """``fn`` of the store opened for writing, off the event loop."""
        return await run_in_threadpool(self.run, fn, write=True)

    async def write_if_idle(self, fn: Callable[[Store], object]) -> bool:
        """:meth:`run_if_idle`, off the event loop."""
        return await run_in_threadpool(self.run_if_idle, fn)


def db(request: Request) -> ConsoleDb:
    """The console's store of the app serving ``request``."""
    found: ConsoleDb = request.app.state.db
    return found
