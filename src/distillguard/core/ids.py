"""Stable, fast hashes for ids and dedupe."""

from __future__ import annotations

import xxhash


def text_hash64(text: str) -> int:
    """Return a fast, stable, unkeyed 64-bit hash of ``text`` (for dedupe, not secrecy)."""
    return xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
