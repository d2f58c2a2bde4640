"""Waiting in tests for a condition, never for a time: poll until it holds, fail clearly at a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout_s: float = 30.0, interval_s: float = 0.05) -> T:
    """The first truthy value of ``condition()``, polled every ``interval_s``; AssertionError naming ``what``
    (and the last value seen) if none comes within ``timeout_s``.

    The deadline only bounds a hung test: it is generous, and no test asserts on how long the wait took.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not the case after {timeout_s:g} s (last: {value!r})")
        time.sleep(interval_s)
