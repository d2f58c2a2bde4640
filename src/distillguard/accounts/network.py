"""Where an address comes from (datacenter, VPN, Tor) and its linking subnet.

Combines the ``iporigin`` package's bundled provider ranges with any intel
directory laid out like ``../shared/data/intel`` (``datacenter-ipv4.txt``,
``vpn-ipv4.txt``, ``tor-exit-nodes.txt``, ``cloud-ranges/*.txt``: one CIDR or
address per line). Lookups are cached per distinct address; an array's plain
global IPv4 addresses are looked up column-wise (:meth:`IpIntel.origins`).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import iporigin
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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

#: A dotted quad as ``ipaddress`` reads it (no leading zeros, each octet at most 255).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
#: A superset of the IPv4 addresses ``ipaddress`` does not call global (iporigin classifies them as reserved
#: without its table): the IANA special-purpose blocks, multicast and the reserved 240/4.
_NOT_GLOBAL_V4 = [
    ipaddress.IPv4Network(net) for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/3",
    )
]

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

    def find_many(self, values: np.ndarray) -> np.ndarray:
        """The origin code of each of ``values`` (int64), -1 where no range holds it."""
        i = np.searchsorted(self.starts, values, side="right") - 1
        at = np.maximum(i, 0)
        found = (i >= 0) & (values <= self.ends[at]) if len(self.starts) else np.zeros(len(values), bool)
        return np.where(found, self.kinds[at] if len(self.starts) else -1, -1).astype(np.int8)


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
        """Take ``origins`` (codes) as the origins of ``ips``, looked up earlier with the same lists (cached as
        :meth:`origin` caches, within the same bound)."""
        if len(self._cache) + len(ips) > 1_000_000:
            self._cache.clear()
        self._cache.update(zip(ips, map(Origin, origins.tolist()), strict=True))

    def origins(self, ips: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Origin codes (int8) for an array of addresses, one lookup per distinct address not cached: the
        global IPv4 ones not listed exactly all at once, column-wise (``large``'s 402,485 distinct addresses,
        20,002 of them IPv6 or special-purpose: 1.0 CPU s against 7.4 one by one), the others one by one; the
        same origins as :meth:`origin`, and cached as it does."""
        encoded = pa.chunked_array(ips).combine_chunks().dictionary_encode()
        distinct = encoded.dictionary
        names = distinct.to_pylist()
        get = self._cache.get
        codes = np.array([get(ip, -1) for ip in names], dtype=np.int8)
        missing = np.flatnonzero(codes < 0)
        if len(missing):
            found = self._v4_origins(distinct.take(pa.array(missing)))
            fast = found >= 0
            codes[missing[fast]] = found[fast]
            self.remember([names[i] for i in missing[fast].tolist()], found[fast])
            for i in missing[~fast].tolist():
                codes[i] = int(self.origin(names[i]))
        return codes[encoded.indices.to_numpy(zero_copy_only=False)] if len(codes) else np.zeros(0, np.int8)

    def _v4_origins(self, ips: pa.Array) -> np.ndarray:
        """The origin codes of the plain global IPv4 addresses of ``ips`` (dotted quads, not listed exactly),
        looked up column-wise in the lists and iporigin's table; -1 for the others (looked up one by one)."""
        plain = pc.match_substring_regex(ips, _DOTTED_QUAD)
        if self.exact:
            plain = pc.and_(plain, pc.invert(pc.is_in(ips, value_set=pa.array(list(self.exact), pa.string()))))
        plain = plain.fill_null(False).to_numpy(zero_copy_only=False)
        out = np.full(len(ips), -1, dtype=np.int8)
        at = np.flatnonzero(plain)
        if not len(at):
            return out
        octets = pc.split_pattern(ips.take(pa.array(at)), ".").flatten().cast(pa.int64()).to_numpy().reshape(-1, 4)
        values = ((octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3])
        special = np.zeros(len(values), dtype=bool)
        for net in _NOT_GLOBAL_V4:
            special |= (values >= int(net.network_address)) & (values <= int(net.broadcast_address))
        best = np.maximum(self.v4.find_many(values), _bundled_v4().find_many(values))
        out[at] = np.where(special, -1, np.maximum(best, int(Origin.RESIDENTIAL)))
        return out

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


@functools.lru_cache(maxsize=1)
def _bundled_v4() -> _RangeTable:
    """iporigin's IPv4 table with its labels as origins (-1: a kind that is none of them)."""
    data = iporigin.core.dataset()  # type: ignore[attr-defined,no-untyped-call]  # re-exported, untyped
    kinds = np.array([_IPORIGIN_KINDS.get(kind, -1) for _, kind in data.labels], dtype=np.int8)
    labels = np.array(data.v4_labels, dtype=np.int64)
    return _RangeTable(np.array(data.v4_starts, dtype=np.int64), np.array(data.v4_ends, dtype=np.int64),
                       kinds[labels] if len(labels) else np.zeros(0, np.int8))


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
