import random
from pathlib import Path

import iporigin
import pyarrow as pa
import pytest

from distillguard.accounts import IpIntel, Origin, subnet_of
from distillguard.core.errors import ConfigError


@pytest.fixture
def intel_dir(tmp_path: Path) -> Path:
    (tmp_path / "cloud-ranges").mkdir()
    (tmp_path / "cloud-ranges" / "acme.txt").write_text("198.18.0.0/15\n")
    (tmp_path / "datacenter-ipv4.txt").write_text("203.0.113.0/24\n")
    (tmp_path / "vpn-ipv4.txt").write_text("203.0.113.128/25\n192.0.2.7\n")
    (tmp_path / "tor-exit-nodes.txt").write_text("192.0.2.99\n2001:0db8:0000:0000:0000:0000:0000:0042\n")
    return tmp_path


@pytest.mark.parametrize(
    ("ip", "origin"),
    [
        ("198.19.4.4", Origin.DATACENTER),
        ("203.0.113.5", Origin.DATACENTER),
        ("203.0.113.200", Origin.VPN),  # inside both lists: the more anonymising wins
        ("192.0.2.7", Origin.VPN),
        ("192.0.2.99", Origin.TOR),
        ("2001:db8::42", Origin.TOR),
        ("192.0.2.8", Origin.RESIDENTIAL),
    ],
)
def test_origin_from_lists(intel_dir: Path, ip: str, origin: Origin) -> None:
    assert IpIntel.load(intel_dir).origin(ip) is origin


def test_origins_of_an_array_match_single_lookups(intel_dir: Path) -> None:
    intel = IpIntel.load(intel_dir)
    ips = ["192.0.2.99", "192.0.2.8", "192.0.2.99", "203.0.113.200"]
    assert intel.origins(pa.array(ips)).tolist() == [int(intel.origin(ip)) for ip in ips]


def test_bundled_provider_ranges_without_lists() -> None:
    assert IpIntel.load(None).origin("20.1.2.3") is Origin.DATACENTER  # Azure, from iporigin


def test_bad_list_line_names_file_and_line(intel_dir: Path) -> None:
    (intel_dir / "vpn-ipv4.txt").write_text("203.0.113.0/25\nnot-an-ip\n")
    with pytest.raises(ConfigError, match=r"vpn-ipv4.txt:2: not a CIDR or address"):
        IpIntel.load(intel_dir)


def test_missing_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        IpIntel.load(tmp_path / "nope")


@pytest.mark.parametrize(
    ("ip", "subnet"),
    [("81.2.69.160", "81.2.69.0/24"), ("2001:db8:1:2::5", "2001:db8:1::/48")],
)
def test_subnet_of(ip: str, subnet: str) -> None:
    assert subnet_of(ip) == subnet


def test_only_a_vpn_and_a_tor_list_make_unlisted_addresses_known(intel_dir: Path, tmp_path: Path) -> None:
    assert IpIntel.load(intel_dir).knows_anonymisers
    assert not IpIntel.load(None).knows_anonymisers  # iporigin's bundled data names only a few VPN providers
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "datacenter-ipv4.txt").write_text("203.0.113.0/24\n")
    (partial / "vpn-ipv4.txt").write_text("192.0.2.7\n")
    assert IpIntel.load(partial).lists == {Origin.DATACENTER, Origin.VPN}
    assert not IpIntel.load(partial).knows_anonymisers
    (partial / "tor-exit-nodes.txt").write_text("\n")  # an empty list lists nothing
    assert not IpIntel.load(partial).knows_anonymisers


def test_origins_of_many_ipv4_addresses_match_single_lookups(intel_dir: Path) -> None:
    """The column-wise IPv4 lookup gives what one lookup at a time gives: listed, bundled (iporigin),
    special-purpose, exactly listed, IPv6 and malformed-looking dotted quads alike."""
    rng = random.Random(0)
    ips = [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(3000)]
    ips += ["198.19.4.4", "203.0.113.200", "192.0.2.99", "20.1.2.3", "10.0.0.1", "100.64.1.1", "224.0.0.1",
            "255.255.255.255", "0.0.0.0", "8.8.8.8", "1.1.1.1", "2001:db8::42", "::ffff:8.8.8.8"]
    starts = iporigin.core.dataset().v4_starts
    for start in list(starts)[:: max(1, len(starts) // 500)]:  # iporigin's range edges
        ips += [f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}" for v in (start - 1, start) if v >= 0]
    intel = IpIntel.load(intel_dir)
    intel.exact["8.8.4.4"] = Origin.TOR  # an exactly listed IPv4 address (as built by hand)
    ips.append("8.8.4.4")
    assert intel.origins(pa.array(ips)).tolist() == [int(IpIntel.load(intel_dir).origin(ip)) for ip in ips[:-1]] + [3]
    assert intel.origins(pa.array(ips[::-1])).tolist() == intel.origins(pa.array(ips)).tolist()[::-1]  # cached


def test_origins_of_a_malformed_address_raise_as_a_single_lookup(intel_dir: Path) -> None:
    for bad in ("1.2.3.04", "256.1.1.1", " 1.2.3.4"):
        with pytest.raises(ValueError):
            IpIntel.load(intel_dir).origins(pa.array(["8.8.8.8", bad]))
