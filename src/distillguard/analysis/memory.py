"""Handing the C heap's free memory back to the system between the steps of an assessment."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim", None)
"""glibc's ``malloc_trim``; None under another C library."""


def release_free_memory() -> None:
    """Return the pages the C heap holds free to the system (glibc: ``malloc_trim``; elsewhere nothing).

    glibc keeps what numpy and Python free in its heap for reuse: after the account risk and the linking of
    large, 0.6-0.9 GB of it, resident under the next step's own peak.
    """
    if _trim is not None:
        _trim(0)
