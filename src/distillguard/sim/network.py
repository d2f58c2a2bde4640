"""IP address pools: residential ISP space, clouds, datacenters, VPN exits, Tor, universities."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distillguard.core.errors import ConfigError
from distillguard.sim.data import load_data


def ipv4_str(value: int) -> str:
    """Dotted-quad text of an IPv4 address given as an int."""
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


class CidrSet:
    """IPv4 CIDR blocks (and single addresses) as sorted int ranges."""

    __slots__ = ("ends", "sizes", "starts")

    def __init__(self, entries: list[str]) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for entry in entries:
            entry = entry.strip()
            if not entry or ":" in entry:
                continue
            try:
                net = ipaddress.IPv4Network(entry, strict=False)
            except ValueError:
                continue
            starts.append(int(net.network_address))
            ends.append(int(net.broadcast_address))
        order = np.argsort(np.asarray(starts, dtype=np.int64), kind="stable")
        self.starts = np.asarray(starts, dtype=np.int64)[order]
        self.ends = np.asarray(ends, dtype=np.int64)[order]
        self.sizes = self.ends - self.starts + 1

    def __len__(self) -> int:
        return len(self.starts)

    def contains(self, addrs: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``addrs`` (int64) fall inside a block (blocks may overlap)."""
        if not len(self.starts):
            return np.zeros(len(addrs), dtype=bool)
        cummax_end = np.maximum.accumulate(self.ends)
        idx = np.searchsorted(self.starts, addrs, side="right") - 1
        ok = idx >= 0
        out = np.zeros(len(addrs), dtype=bool)
        out[ok] = addrs[ok] <= cummax_end[idx[ok]]
        return out

    def sample(self, rng: np.random.Generator, n: int, by_size: bool = True) -> np.ndarray:
        """``n`` random host addresses (int64); blocks weighted by size, or uniformly."""
        if not len(self.starts):
            raise ConfigError("an IP list used by the scenario is empty")
        if by_size:
            p = self.sizes / self.sizes.sum()
            blocks = rng.choice(len(self.starts), size=n, p=p)
        else:
            blocks = rng.integers(0, len(self.starts), size=n)
        size = self.sizes[blocks]
        inner = np.where(size > 2, 1 + (rng.random(n) * np.maximum(size - 2, 1)).astype(np.int64), 0)
        return self.starts[blocks] + inner


def _read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"{path}: intel list not found")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(slots=True)
class Intel:
    """The IP intelligence lists the simulator draws from."""

    cloud: dict[str, CidrSet]
    datacenter: CidrSet
    vpn: CidrSet
    tor: list[str]
    builtin: bool

    def all_cloud(self) -> list[str]:
        """Cloud provider names, sorted."""
        return sorted(self.cloud)


def load_intel(intel_dir: Path | None) -> Intel:
    """Read ``cloud-ranges/*.txt``, ``datacenter-ipv4.txt``, ``vpn-ipv4.txt``, ``tor-exit-nodes.txt``.

    ``None`` gives small built-in sample lists (for tests and demos).
    """
    if intel_dir is None:
        fb = load_data("world")["fallback_intel"]
        return Intel(
            cloud={k: CidrSet(v) for k, v in fb["cloud"].items()},
            datacenter=CidrSet(fb["datacenter"]),
            vpn=CidrSet(fb["vpn"]),
            tor=list(fb["tor"]),
            builtin=True,
        )
    intel_dir = Path(intel_dir)
    if not intel_dir.is_dir():
        raise ConfigError(f"{intel_dir}: intel directory not found")
    cloud = {p.stem: CidrSet(_read_list(p)) for p in sorted((intel_dir / "cloud-ranges").glob("*.txt"))}
    if not cloud:
        raise ConfigError(f"{intel_dir}/cloud-ranges: no *.txt lists")
    tor_path = intel_dir / "tor-exit-nodes.txt"
    tor = [str(ipaddress.ip_address(t)) for t in _read_list(tor_path)] if tor_path.is_file() else []
    return Intel(
        cloud=cloud,
        datacenter=CidrSet(_read_list(intel_dir / "datacenter-ipv4.txt")),
        vpn=CidrSet(_read_list(intel_dir / "vpn-ipv4.txt")),
        tor=tor or list(load_data("world")["fallback_intel"]["tor"]),
        builtin=False,
    )


class AddressSpace:
    """Draws addresses for every kind of network the simulator needs."""

    def __init__(self, intel: Intel) -> None:
        world = load_data("world")
        self.intel = intel
        self.countries: dict[str, dict] = world["countries"]
        self._isp = {c: CidrSet(v["isp"]) for c, v in self.countries.items()}
        self._v6 = {c: [ipaddress.IPv6Network(x) for x in v["ipv6"]] for c, v in self.countries.items()}
        self._blocked = _merge(intel)

    def residential(self, rng: np.random.Generator, country: str, n: int) -> list[str]:
        """``n`` consumer-ISP IPv4 addresses of ``country``, none in cloud/DC/VPN lists."""
        cs = self._isp.get(country) or self._isp["US"]
        out = cs.sample(rng, n)
        for _ in range(8):
            bad = self._blocked.contains(out)
            if not bad.any():
                break
            out[bad] = cs.sample(rng, int(bad.sum()))
        return [ipv4_str(int(a)) for a in out]

    def residential_v6(self, rng: random.Random, country: str) -> str:
        """A consumer IPv6 address (random /64 inside the ISP prefix, random interface id)."""
        nets = self._v6.get(country) or self._v6["US"]
        net = nets[int(rng.random() * len(nets))]
        host_bits = 128 - net.prefixlen
        sub = rng.getrandbits(host_bits - 64) << 64 if host_bits > 64 else 0
        iid = rng.getrandbits(64)
        return str(ipaddress.IPv6Address(int(net.network_address) + sub + iid))

    def cloud(self, rng: np.random.Generator, n: int, provider: str | None = None) -> list[str]:
        """``n`` addresses of one cloud provider (random provider when ``None``)."""
        names = self.intel.all_cloud()
        name = provider if provider in self.intel.cloud else names[int(rng.integers(0, len(names)))]
        return [ipv4_str(int(a)) for a in self.intel.cloud[name].sample(rng, n)]

    def datacenter(self, rng: np.random.Generator, n: int, blocks: int | None = None) -> list[str]:
        """``n`` datacenter addresses, from ``blocks`` randomly chosen ranges when given."""
        cs = self.intel.datacenter
        if blocks is not None:
            chosen = rng.choice(len(cs), size=min(blocks, len(cs)), replace=False)
            sub = CidrSet([f"{ipv4_str(int(cs.starts[i]))}/{_prefix(cs, i)}" for i in sorted(chosen)])
            return [ipv4_str(int(a)) for a in sub.sample(rng, n)]
        return [ipv4_str(int(a)) for a in cs.sample(rng, n)]

    def vpn(self, rng: np.random.Generator, n: int) -> list[str]:
        """``n`` VPN exit addresses (ranges picked uniformly, as exits are)."""
        return [ipv4_str(int(a)) for a in self.intel.vpn.sample(rng, n, by_size=False)]

    def tor(self, rng: np.random.Generator, n: int) -> list[str]:
        """``n`` Tor exit addresses (with repetition when the list is short)."""
        idx = rng.integers(0, len(self.intel.tor), size=n)
        return [self.intel.tor[int(i)] for i in idx]

    def carrier_nat(self, rng: np.random.Generator, country: str, n: int) -> list[str]:
        """``n`` public addresses of one mobile carrier's NAT: consecutive hosts of one consumer /24."""
        base = int(ipaddress.IPv4Address(self.residential(rng, country, 1)[0])) & ~0xFF
        hosts = rng.choice(np.arange(1, 255), size=min(n, 254), replace=False)
        return [ipv4_str(base + int(h)) for h in np.sort(hosts)]

    def university(self, rng: np.random.Generator, cidr: str, n: int) -> list[str]:
        """``n`` addresses inside a university block."""
        return [ipv4_str(int(a)) for a in CidrSet([cidr]).sample(rng, n)]


def _prefix(cs: CidrSet, i: int) -> int:
    return 32 - (int(cs.sizes[i]) - 1).bit_length()


def _merge(intel: Intel) -> CidrSet:
    merged = CidrSet([])
    parts = [*intel.cloud.values(), intel.datacenter, intel.vpn]
    starts = np.concatenate([p.starts for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([p.ends for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    order = np.argsort(starts, kind="stable")
    merged.starts, merged.ends = starts[order], ends[order]
    merged.sizes = merged.ends - merged.starts + 1
    return merged
