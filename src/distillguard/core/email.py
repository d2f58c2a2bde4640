"""The shape of an e-mail local part: what accounts opened from one template have in common.

``zhang.wei1987`` and ``li.na1990`` have the same shape ``a.a9``. Campaign
linking keys signup bursts on it (in SQL) and the signup assessor compares
new addresses with flagged accounts' by it; both apply :data:`LOCAL_SHAPE_RULES`.
"""

from __future__ import annotations

import re

LOCAL_SHAPE_RULES: tuple[tuple[str, str], ...] = (("[0-9]+", "9"), ("[a-z]+", "a"))
"""``(pattern, replacement)`` applied in order, every match, to the lower-cased local part: a run of ASCII
digits becomes one ``9``, then a run of ASCII letters one ``a``; every other character is kept."""

_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in LOCAL_SHAPE_RULES)


def local_shape(local: str) -> str:
    """The shape of an e-mail local part by :data:`LOCAL_SHAPE_RULES` (``j_doe-42`` → ``a_a-9``)."""
    shape = local.lower()
    for pattern, replacement in _COMPILED:
        shape = pattern.sub(replacement, shape)
    return shape


__all__ = ["LOCAL_SHAPE_RULES", "local_shape"]
