"""Sharing communities and their keys: personal values leave only as an HMAC keyed per community.

Partners in one community share a secret key, so the same account id, e-mail, payment fingerprint,
residential address or prompt template gives the same token at every partner (they can match) while
nobody outside can reverse it. The key of community ``NAME`` comes from the environment variable
``DISTILLGUARD_INTEL_KEY_<NAME>`` (upper-cased, every non-alphanumeric character turned into ``_``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from distillguard.core.errors import ConfigError
from distillguard.core.ids import secret_from_env

KEY_ENV_PREFIX = "DISTILLGUARD_INTEL_KEY_"
MIN_KEY_BYTES = 16

KeyedKind = Literal["account", "email", "payment", "residential_ip", "template"]
KEYED_KINDS: tuple[KeyedKind, ...] = get_args(KeyedKind)
"""The kinds of value that leave a provider only keyed."""


def key_env_name(name: str) -> str:
    """The environment variable that holds community ``name``'s key."""
    if not name.strip():
        raise ConfigError("community name is empty")
    return KEY_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name.upper())


def normalise(kind: str, value: str) -> str:
    """``value`` in the form every partner hashes: e-mails lower-cased and stripped, IPs canonical."""
    if kind == "email":
        return value.strip().lower()
    if kind == "residential_ip":
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError as exc:
            raise ConfigError(f"residential_ip: not an IP address: {value!r}") from exc
    if kind in KEYED_KINDS:
        return value
    raise ConfigError(f"unknown keyed kind {kind!r} (one of {', '.join(KEYED_KINDS)})")


@dataclass(frozen=True)
class Community:
    """A sharing community: its name and its secret HMAC-SHA256 key."""

    name: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"{key_env_name(self.name)}: community key too short: {len(self.key)} bytes, "
                f"at least {MIN_KEY_BYTES} needed"
            )

    def keyed(self, kind: str, value: str) -> str:
        """The community's token for ``value`` of ``kind``: HMAC-SHA256 of ``kind:normalised`` in hex (64 chars)."""
        message = f"{kind}:{normalise(kind, value)}".encode("utf-8", "surrogatepass")
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()


def community(name: str, environ: Mapping[str, str] | None = None) -> Community:
    """Community ``name`` with its key from ``DISTILLGUARD_INTEL_KEY_<NAME>`` (hex, or any text of 16+ bytes).

    Raises :class:`ConfigError` naming the variable when it is unset or too short.
    """
    key = secret_from_env(key_env_name(name), MIN_KEY_BYTES, f"the values shared with community {name!r}", environ)
    return Community(name, key)
