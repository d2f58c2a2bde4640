"""Stable, fast hashes for ids and dedupe; keyed hashes for personal data leaving the system;
the SplitMix64 mixer that spreads integers over 64 bits."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import xxhash

from distillguard.core.errors import ConfigError

HASH_KEY_ENV = "DISTILLGUARD_HASH_KEY"
KEYED_HASH_BYTES = 16
MIN_HASH_KEY_BYTES = 16
GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
"""2**64 divided by the golden ratio, made odd: SplitMix64's increment, and a well-spread odd multiplier."""


def text_hash64(text: str) -> int:
    """Return a fast, stable, unkeyed 64-bit hash of ``text`` (for dedupe, not secrecy)."""
    return xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))


def keyed_hash(value: str, key: bytes) -> str:
    """Return the keyed BLAKE2b hash of ``value`` as hex (16 bytes, 32 hex digits).

    Use it for account ids and IP addresses before they leave the system: the
    same value under the same key always gives the same token (so outputs can
    still be joined), and without the key the token cannot be reversed by
    hashing guesses.
    """
    if len(key) < MIN_HASH_KEY_BYTES:
        raise ConfigError(f"hash key too short: {len(key)} bytes, at least {MIN_HASH_KEY_BYTES} needed")
    if len(key) > hashlib.blake2b.MAX_KEY_SIZE:  # longer keys are condensed, never cut
        key = hashlib.blake2b(key).digest()
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=key, digest_size=KEYED_HASH_BYTES)
    return digest.hexdigest()


def secret_from_env(var: str, min_bytes: int, purpose: str, environ: Mapping[str, str] | None = None) -> bytes:
    """The secret in environment variable ``var`` (hex, or any text of ``min_bytes``+ bytes).

    Raises :class:`ConfigError` naming ``var`` and ``purpose`` when it is unset, or when it is too short.
    """
    text = (os.environ if environ is None else environ).get(var, "").strip()
    if not text:
        raise ConfigError(
            f"{var} is not set: it keys {purpose} "
            f"(set it to a secret of at least {min_bytes} bytes, e.g. `openssl rand -hex 32`)"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = text.encode("utf-8")
    if len(key) < min_bytes:
        raise ConfigError(f"{var} is too short: {len(key)} bytes, at least {min_bytes} needed")
    return key


def load_hash_key(environ: Mapping[str, str] | None = None) -> bytes:
    """Read the keyed-hash key from ``DISTILLGUARD_HASH_KEY`` (hex, or any text of 16+ bytes).

    Raises :class:`ConfigError` when it is unset or too short, so that nothing
    leaves the system unhashed.
    """
    return secret_from_env(HASH_KEY_ENV, MIN_HASH_KEY_BYTES, "the hash of account ids and IP addresses in outputs",
                           environ)


def mix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The SplitMix64 finaliser of each value: a bijection of uint64 that spreads every input bit over the output."""
    h: npt.NDArray[np.uint64] = values ^ (values >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def splitmix64(values: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """One SplitMix64 step from each value as state: :func:`mix64` of ``value + GOLDEN_GAMMA`` (mod 2**64).

    Spreads sequential or already-hashed integers over 64 bits; integers are
    taken modulo 2**64 (negative ones wrap).
    """
    state: npt.NDArray[np.uint64] = values.astype(np.uint64, copy=False) + GOLDEN_GAMMA
    return mix64(state)


def campaign_id(members: Iterable[str]) -> str:
    """A campaign's id: ``CMP-`` and 10 hex digits of the :func:`text_hash64` of its least member account id.

    The same accounts always give the same id, in every run, and so does a
    campaign that keeps its least member while others join or leave.
    """
    return "CMP-" + format(text_hash64(min(members)), "016x")[:10]
