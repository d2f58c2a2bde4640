"""Stable ids and keyed hashing of personal data (account ids, IPs)."""

from __future__ import annotations

import hashlib
import hmac

import xxhash


def keyed_hash(value: str, key: bytes) -> str:
    """Return a keyed (HMAC-BLAKE2b) pseudonym of ``value``, 16 bytes in hex.

    Use it for account ids and IPs before they leave the system: without the
    key the pseudonym cannot be reversed or linked across deployments.
    """
    return hmac.new(key, value.encode("utf-8"), hashlib.blake2b).hexdigest()[:32]


def text_hash64(text: str) -> int:
    """Return a fast, stable, unkeyed 64-bit hash of ``text`` (for dedupe, not secrecy)."""
    return xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
