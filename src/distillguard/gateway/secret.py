"""The gateway's secret key, and the keyed hashes made with it (API key ids, client addresses, admin tokens).

The key is ``DISTILLGUARD_SECRET_KEY`` when set, else the content of
``secret_key_file``: generated (32 random bytes, hex, mode 0600) on first
start and kept, so that ids stay equal across restarts. Without a file
configured it lives beside the store (``db``), else beside the exchange log;
a gateway with neither writes nothing that outlives it and uses a key of its
own process. Replicas whose logs are analysed together must share the key
(the same variable, or the same file).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from pathlib import Path

from distillguard.core.errors import ConfigError
from distillguard.gateway.config import GatewayConfig

log = logging.getLogger("distillguard.gateway")

SECRET_ENV = "DISTILLGUARD_SECRET_KEY"
MIN_SECRET_BYTES = 16
KEY_FILE_NAME = "gateway.key"


def secret_key_path(config: GatewayConfig) -> Path | None:
    """Where the key is kept: ``secret_key_file``, else beside the store, else beside the exchange log."""
    if config.secret_key_file is not None:
        return config.secret_key_file
    for beside in (config.db, config.exchange_log):
        if beside is not None:
            return beside.parent / KEY_FILE_NAME
    return None


def load_secret(config: GatewayConfig) -> bytes:
    """The gateway's secret key (see the module's doc); ConfigError for a key too short to be one."""
    value = os.environ.get(SECRET_ENV)
    where = SECRET_ENV
    if not value:
        path = secret_key_path(config)
        if path is None:
            log.info("no store or exchange log: keyed hashes use a key of this process only")
            return secrets.token_bytes(32)
        value, where = _read_or_create(path), str(path)
    secret = value.strip().encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"{where}: the gateway's secret key must be at least {MIN_SECRET_BYTES} characters")
    return secret


def _read_or_create(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the gateway's secret key: {exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another replica created it meanwhile
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the gateway's secret key: {exc}") from exc
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
        out.flush()
        os.fsync(out.fileno())
    log.warning("generated the gateway's secret key in %s: keep it (ids in the logs depend on it)", path)
    return value


def keyed_hash(secret: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``secret``, separated by ``purpose`` (hex)."""
    return hmac.new(secret, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256).hexdigest()


def pseudonymize_ip(secret: bytes, ip: str) -> str:
    """``ip`` with its network kept (/24 of IPv4, /48 of IPv6) and its host part a keyed hash of the address.

    Subnet and origin (datacenter, proxy, ASN) look-ups still work; equal addresses stay equal, and
    different IPv4 hosts of one /24 collide with probability 1/256. Not an address: returned unchanged.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    keep = 24 if address.version == 4 else 48
    host_bits = address.max_prefixlen - keep
    digest = int(keyed_hash(secret, "ip", address.exploded), 16)
    network = int(address) >> host_bits << host_bits
    host = digest & ((1 << host_bits) - 1)
    return str(ipaddress.ip_address(network | host))
