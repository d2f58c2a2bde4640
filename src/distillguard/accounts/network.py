"""Where an address comes from (datacenter, VPN, Tor) and its linking subnet.

Combines the ``iporigin`` package's bundled provider ranges with any intel
directory laid out like ``../shared/data/intel`` (``datacenter-ipv4.txt``,
``vpn-ipv4.txt``, ``tor-exit-nodes.txt``, ``cloud-ranges/*.txt``: one CIDR or
address per line). Lookups are cached per distinct address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import iporigin
import numpy as np
import pyarrow as pa

from distillguard.core.errors import ConfigError


class Origin(IntEnum):
    """Kind of network an address belongs to; higher means more anonymising."""

    RESIDENTIAL = 0
    DATACENTER = 1
    VPN = 2
    TOR = 3


_IPORIGIN_KINDS = {
    iporigin.core.HOSTING: Origin.DATACENTER,
    iporigin.core.CDN: Origin.DATACENTER,
    iporigin.core.BOT: Origin.DATACENTER,
    iporigin.core.VPN: Origin.VPN,
    iporigin.core.TOR: Origin.TOR,
}

_LISTS = {
    "datacenter-ipv4.txt": Origin.DATACENTER,
    "vpn-ipv4.txt": Origin.VPN,
    "tor-exit-nodes.txt": Origin.TOR,
}


@dataclass
class _RangeTable:
    """Sorted, non-overlapping IPv4 ranges with one origin each."""

    starts: np.ndarray
    ends: np.ndarray
    kinds: np.ndarray

    def find(self, value: int) -> Origin | None:
        i = int(np.searchsorted(self.starts, value, side="right")) - 1
        if i >= 0 and value <= self.ends[i]:
            return Origin(int(self.kinds[i]))
        return None


@dataclass
class IpIntel:
    """Classifies addresses by origin; build it with :meth:`load` or empty.

    ``lists`` holds the origins an intel directory gave a list of. iporigin's bundled data covers
    datacenters, but only a few VPN providers: without a VPN and a Tor exit list, an address not
    found anonymising says nothing (:attr:`knows_anonymisers`).
    """

    v4: _RangeTable = field(
        default_factory=lambda: _RangeTable(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8))
    )
    exact: dict[str, Origin] = field(default_factory=dict)
    lists: frozenset[Origin] = frozenset()
    _cache: dict[str, Origin] = field(default_factory=dict, repr=False)

    @property
    def knows_anonymisers(self) -> bool:
        """Whether a VPN and a Tor exit list were given, so that an address found in neither is likely neither."""
        return {Origin.VPN, Origin.TOR} <= self.lists

    @classmethod
    def load(cls, intel_dir: Path | None) -> IpIntel:
        """Read the lists under ``intel_dir`` (None: only iporigin's bundled data)."""
        if intel_dir is None:
            return cls()
        if not intel_dir.is_dir():
            raise ConfigError(f"{intel_dir}: intel directory not found")
        ranges: list[tuple[int, int, int]] = []
        exact: dict[str, Origin] = {}
        lists: set[Origin] = set()
        files = [(intel_dir / name, kind) for name, kind in _LISTS.items()]
        files += [(p, Origin.DATACENTER) for p in sorted((intel_dir / "cloud-ranges").glob("*.txt"))]
        for path, kind in files:
            if not path.exists():
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                entry = line.strip()
                if not entry:
                    continue
                try:
                    net = ipaddress.ip_network(entry, strict=False)
                except ValueError as exc:
                    raise ConfigError(f"{path}:{lineno}: not a CIDR or address: {entry!r}") from exc
                if net.version == 4:
                    ranges.append((int(net.network_address), int(net.broadcast_address), int(kind)))
                else:
                    exact[str(net.network_address)] = kind
                lists.add(kind)
        return cls(v4=_merge_ranges(ranges), exact=exact, lists=frozenset(lists))

    def origin(self, ip: str) -> Origin:
        """Origin of one address (cached)."""
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        result = self._lookup(ip)
        if len(self._cache) > 1_000_000:
            self._cache.clear()
        self._cache[ip] = result
        return result

    def remember(self, ips: list[str], origins: np.ndarray) -> None:
        """Take ``origins`` (codes) as the origins of ``ips``, looked up earlier with the same lists."""
        self._cache.update(zip(ips, map(Origin, origins.tolist()), strict=True))

    def origins(self, ips: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Origin codes (int8) for an array of addresses, one lookup per distinct address."""
        encoded = pa.chunked_array(ips).combine_chunks().dictionary_encode()
        codes = np.array([int(self.origin(ip)) for ip in encoded.dictionary.to_pylist()], dtype=np.int8)
        return codes[encoded.indices.to_numpy(zero_copy_only=False)] if len(codes) else np.zeros(0, np.int8)

    def _lookup(self, ip: str) -> Origin:
        address = ipaddress.ip_address(ip)
        best = self.exact.get(str(address), Origin.RESIDENTIAL)
        if address.version == 4:
            found = self.v4.find(int(address))
            if found is not None:
                best = max(best, found)
        bundled = _IPORIGIN_KINDS.get(iporigin.classify(address).kind)
        if bundled is not None:
            best = max(best, bundled)
        return Origin(best)


def _merge_ranges(ranges: list[tuple[int, int, int]]) -> _RangeTable:
    """Flatten possibly overlapping ranges; where they overlap the stronger origin wins."""
    if not ranges:
        return IpIntel().v4
    points = sorted({r[0] for r in ranges} | {r[1] + 1 for r in ranges})
    starts = np.array(points[:-1], dtype=np.int64)
    kinds = np.full(len(starts), -1, dtype=np.int8)
    for lo, hi, kind in sorted(ranges, key=lambda r: r[2]):
        a = np.searchsorted(starts, lo)
        b = np.searchsorted(starts, hi + 1)
        kinds[a:b] = kind
    ends = np.array(points[1:], dtype=np.int64) - 1
    keep = kinds >= 0
    return _RangeTable(starts[keep], ends[keep], kinds[keep])


def subnet_of(ip: str) -> str:
    """The linking subnet of an address: its /24 (IPv4) or /48 (IPv6)."""
    if ":" not in ip:
        return ip.rsplit(".", 1)[0] + ".0/24"
    net = ipaddress.ip_network(f"{ip}/48", strict=False)
    return str(net)
