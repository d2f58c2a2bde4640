"""The console's store access: reads run side by side, a write waits for them and runs alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from distillguard.console.db import ConsoleDb
from distillguard.store import Store
from distillguard.store.console import kept_setting


def test_reads_run_side_by_side_and_a_write_waits_for_them(store_path: Path) -> None:
    db = ConsoleDb(store_path)
    release = threading.Event()
    holding = threading.Event()
    order: list[str] = []

    def long_read(store: Store) -> None:
        holding.set()
        release.wait(10)
        order.append("long read done")

    def write(store: Store) -> str:
        order.append("write")
        return kept_setting(store, "test", "written")

    slow = threading.Thread(target=db.run, args=(long_read,))
    slow.start()
    assert holding.wait(10)
    start = time.monotonic()
    assert db.run(lambda store: store.query("SELECT count(*) AS n FROM runs").column("n")[0].as_py()) >= 1
    assert time.monotonic() - start < 5, "a read waited for another read"
    writer = threading.Thread(target=db.run, args=(write,), kwargs={"write": True})
    writer.start()
    time.sleep(0.3)
    assert order == [], "the write ran beside a read"
    release.set()
    slow.join(10)
    writer.join(10)
    assert order == ["long read done", "write"]
    assert db.run(lambda store: kept_setting(store, "test", "other"), write=True) == "written"


def test_a_write_if_idle_skips_a_busy_store_without_holding_up_reads(store_path: Path) -> None:
    db = ConsoleDb(store_path)
    release = threading.Event()
    holding = threading.Event()

    def long_read(store: Store) -> None:
        holding.set()
        release.wait(10)

    slow = threading.Thread(target=db.run, args=(long_read,))
    slow.start()
    assert holding.wait(10)
    skipped: list[bool] = []
    polite = threading.Thread(target=lambda: skipped.append(db.run_if_idle(
        lambda store: kept_setting(store, "test", "busy"), wait_s=2.0)))
    polite.start()
    time.sleep(0.2)
    start = time.monotonic()
    assert db.run(lambda store: store.path) == store_path  # a read while the write if idle waits
    assert time.monotonic() - start < 1.5, "a read waited behind the write if idle"
    polite.join(10)
    assert skipped == [False]
    release.set()
    slow.join(10)
    assert db.run_if_idle(lambda store: kept_setting(store, "test", "idle"))
    stored = db.run(lambda store: store.query("SELECT value FROM console_settings WHERE name = 'test'").column(0))
    assert stored.to_pylist() == ["idle"]
