"""Community keys and the shared pattern vocabulary: what every intel helper relies on."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from stix2patterns.validator import validate

from distillguard.core.errors import ConfigError
from distillguard.intel.community import Community, community, key_env_name
from distillguard.intel.vocabulary import (
    CLIENT_EXTENSION_ID,
    KEYED_EXTENSION_ID,
    TLP2_MARKING_IDS,
    Term,
    parse_pattern,
    pattern,
    stix_id,
    tlp2_marking,
    tlp_of_marking,
)

KEY = "0123456789abcdef0123456789abcdef"


def test_key_comes_from_the_community_variable_and_errors_name_it() -> None:
    assert key_env_name("Frontier Labs/EU") == "DISTILLGUARD_INTEL_KEY_FRONTIER_LABS_EU"
    found = community("Frontier Labs/EU", {"DISTILLGUARD_INTEL_KEY_FRONTIER_LABS_EU": KEY})
    assert found.key == bytes.fromhex(KEY)
    with pytest.raises(ConfigError, match="DISTILLGUARD_INTEL_KEY_FRONTIER_LABS_EU is not set"):
        community("Frontier Labs/EU", {})
    with pytest.raises(ConfigError, match="DISTILLGUARD_INTEL_KEY_LABS is too short"):
        community("labs", {"DISTILLGUARD_INTEL_KEY_LABS": "short"})


def test_keyed_value_is_hmac_sha256_of_kind_and_normalised_value() -> None:
    labs = Community("labs", b"k" * 32)
    expected = hmac.new(b"k" * 32, b"email:jane.doe@example.com", hashlib.sha256).hexdigest()
    assert labs.keyed("email", "  Jane.Doe@Example.COM ") == expected
    assert labs.keyed("residential_ip", "2001:DB8:0::1") == labs.keyed("residential_ip", "2001:db8::1")
    assert labs.keyed("account", "acct-1") != labs.keyed("payment", "acct-1")  # the kind is part of the message
    assert labs.keyed("account", "acct-1") != Community("other", b"o" * 32).keyed("account", "acct-1")
    with pytest.raises(ConfigError, match="unknown keyed kind"):
        labs.keyed("prompt", "anything")


@pytest.mark.parametrize("term", [
    Term("ip", "198.51.100.7"), Term("ip", "2001:db8::7"), Term("cidr", "198.51.100.0/24"),
    Term("cidr", "2001:db8:1::/48"), Term("email_domain", "mail.example"),
    Term("client", tls_ja4="t13d1516h2_8daaf6152771_b186095e22b6", user_agent="it's a \\ client"),
    Term("client", user_agent="Mozilla/5.0 (X11; Linux) \"quoted\" ] AND [ipv4-addr:value = '1.2.3.4']\n"),
    Term("client", user_agent="curl/8.5.0"), Term("client", tls_ja4="t13d1516h2_8daaf6152771_b186095e22b6"),
    Term("payment", "ab" * 32), Term("residential_ip", "cd" * 32), Term("template", "ef" * 32),
])
def test_every_pattern_is_valid_stix_and_reads_back_as_its_term(term: Term) -> None:
    assert validate(pattern(term), stix_version="2.1", ret_errs=True) == (True, [])
    assert parse_pattern(pattern(term)) == term


def test_the_documented_forms_are_exact() -> None:
    assert pattern(Term("ip", "198.51.100.7")) == "[ipv4-addr:value = '198.51.100.7']"
    assert pattern(Term("cidr", "198.51.100.0/24")) == "[ipv4-addr:value ISSUBSET '198.51.100.0/24']"
    assert pattern(Term("payment", "ab" * 32)) == (
        f"[x-distillguard-keyed:kind = 'payment' AND x-distillguard-keyed:value = '{'ab' * 32}']")


@pytest.mark.parametrize("text", [
    "[ipv4-addr:value = '198.51.100.7'] OR [ipv4-addr:value = '198.51.100.8']",
    "[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value = '198.51.100.8']",
    "[domain-name:value ISSUBSET 'mail.example']",
    "[ipv6-addr:value = '198.51.100.7']",
    "[ipv4-addr:value = '198.051.100.7']",
    "[x-distillguard-keyed:kind = 'prompt' AND x-distillguard-keyed:value = '" + "ab" * 32 + "']",
    "[x-distillguard-keyed:kind = 'payment' AND x-distillguard-keyed:value = 'pf_raw_value']",
    "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
    "[domain-name:value = 'mail.example' AND ipv4-addr:value = '198.51.100.7']",
])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_pattern(text)


def test_ids_are_deterministic_and_tlp_markings_are_the_official_ones() -> None:
    assert stix_id("indicator", "lab-a", "k") == stix_id("indicator", "lab-a", "k")
    assert stix_id("indicator", "lab-a", "k") != stix_id("indicator", "lab-b", "k")
    assert CLIENT_EXTENSION_ID != KEYED_EXTENSION_ID
    assert TLP2_MARKING_IDS["amber+strict"] == "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
    assert TLP2_MARKING_IDS["clear"] == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    red = tlp2_marking("red")
    assert red["name"] == "TLP:RED" and tlp_of_marking(str(red["id"])) == "red"
    assert tlp_of_marking("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82") is None
