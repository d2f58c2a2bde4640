"""Keyed hashes of personal data and the key they need; the SplitMix64 mixer."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.core.errors import ConfigError
from distillguard.core.ids import (
    GOLDEN_GAMMA,
    HASH_KEY_ENV,
    campaign_id,
    keyed_hash,
    load_hash_key,
    mix64,
    splitmix64,
    text_hash64,
)

KEY = bytes(range(32))


def test_keyed_hash_is_stable_hex_of_16_bytes() -> None:
    token = keyed_hash("203.0.113.7", KEY)
    assert token == keyed_hash("203.0.113.7", KEY)
    assert len(token) == 32 and int(token, 16) >= 0


@pytest.mark.parametrize(("a", "b"), [("acct-1", "acct-2"), ("10.0.0.1", "10.0.0.2"), ("", " ")])
def test_keyed_hash_separates_values(a: str, b: str) -> None:
    assert keyed_hash(a, KEY) != keyed_hash(b, KEY)


def test_keyed_hash_depends_on_the_key() -> None:
    other = bytes(reversed(KEY))
    assert keyed_hash("acct-1", KEY) != keyed_hash("acct-1", other)


def test_long_keys_are_condensed_not_cut() -> None:
    long_a = b"k" * 64 + b"a"
    long_b = b"k" * 64 + b"b"
    assert keyed_hash("acct-1", long_a) != keyed_hash("acct-1", long_b)


def test_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        keyed_hash("acct-1", b"short")


def test_unkeyed_hash_unchanged() -> None:
    assert text_hash64("abc") == text_hash64("abc") != text_hash64("abd")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("00" * 16, bytes(16)),
        ("  " + "ab" * 20 + "\n", bytes.fromhex("ab" * 20)),
        ("a passphrase of enough length", b"a passphrase of enough length"),
    ],
)
def test_load_hash_key_reads_hex_or_text(value: str, expected: bytes) -> None:
    assert load_hash_key({HASH_KEY_ENV: value}) == expected


@pytest.mark.parametrize(("env", "message"), [({}, "is not set"), ({HASH_KEY_ENV: " "}, "is not set"),
                                              ({HASH_KEY_ENV: "abcd"}, "too short")])
def test_load_hash_key_explains_what_is_missing(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_hash_key(env)
    assert HASH_KEY_ENV in str(info.value)


def test_load_hash_key_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HASH_KEY_ENV, "ff" * 32)
    assert load_hash_key() == b"\xff" * 32
    monkeypatch.delenv(HASH_KEY_ENV)
    with pytest.raises(ConfigError):
        load_hash_key()


def test_splitmix64_gives_the_reference_sequence() -> None:
    # the reference generator (Vigna, splitmix64.c) seeded with 0 and with 1234567: state += gamma, then mix
    states = np.array([0, *((1234567 + k * int(GOLDEN_GAMMA)) % 2**64 for k in range(3))], dtype=np.uint64)
    assert splitmix64(states).tolist() == [
        0xE220A8397B1DCDAF,
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
    ]


def test_mix64_is_the_finaliser_without_the_increment() -> None:
    values = np.array([0, 1, 2**64 - 1], dtype=np.uint64)
    assert mix64(values).tolist() == [0, 6238072747940578789, 13029008266876403067]
    assert np.array_equal(splitmix64(values), mix64(values + GOLDEN_GAMMA))


def test_splitmix64_wraps_signed_integers() -> None:
    assert splitmix64(np.array([-1], dtype=np.int64)).tolist() == splitmix64(np.array([2**64 - 1], dtype=np.uint64)).tolist()


def test_campaign_id_is_named_by_its_least_member() -> None:
    members = ["acct_b", "acct_a", "acct_c"]
    cid = campaign_id(members)
    assert cid == "CMP-" + format(text_hash64("acct_a"), "016x")[:10]
    assert len(cid) == 14 and int(cid[4:], 16) >= 0
    assert campaign_id(sorted(members)) == campaign_id(iter(members)) == campaign_id(["acct_a"]) == cid
    assert campaign_id(["acct_b", "acct_c"]) != cid


def test_campaign_id_is_stable_across_versions() -> None:
    assert campaign_id(["acct_tx6qc7s6qqpcaprrdzoy", "acct_zz"]) == "CMP-ebe7ee5505"  # ids in stored runs stay valid


def test_campaign_id_of_no_members_is_an_error() -> None:
    with pytest.raises(ValueError):
        campaign_id([])
