"""Personal data in what the gateway keeps: keyed hashes, client addresses, prompt text (issue 14, item 9)."""

import ipaddress
import json
import stat
from pathlib import Path

import pytest
from gwclient import CASES, call, gateway

from distillguard.core.errors import ConfigError
from distillguard.gateway.config import GatewayConfig
from distillguard.gateway.secret import SECRET_ENV, keyed_hash, load_secret, pseudonymize_ip
from distillguard.ingest import read_exchanges

SECRET = b"0123456789abcdef0123456789abcdef"
PROMPT = "What is the sum of the first ten odd numbers?"


@pytest.mark.parametrize(("ip", "prefix"), [("203.0.113.9", 24), ("2001:db8:1:2::77", 48)])
def test_a_pseudonymized_address_keeps_its_network_and_hides_its_host(ip: str, prefix: int) -> None:
    out = pseudonymize_ip(SECRET, ip)
    assert out == pseudonymize_ip(SECRET, ip)  # equal addresses stay equal: accounts still link
    assert ipaddress.ip_address(out) in ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    others = {pseudonymize_ip(SECRET + bytes([i]), ip) for i in range(20)}
    assert len(others) > 10  # the host part depends on the key: not reversible without it
    assert pseudonymize_ip(SECRET, "not an address") == "not an address"


def test_the_secret_comes_from_the_environment_else_a_kept_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    config = GatewayConfig(db=tmp_path / "store.duckdb")
    first = load_secret(config)
    key_file = tmp_path / "gateway.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_secret(config) == first  # kept: ids stay equal across restarts
    assert load_secret(GatewayConfig()) != load_secret(GatewayConfig())  # nothing kept: a key of the process
    monkeypatch.setenv(SECRET_ENV, SECRET.decode())
    assert load_secret(config) == SECRET
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ConfigError, match="at least 16"):
        load_secret(config)


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_exchange_log_keeps_a_pseudonymized_address_and_keyed_key_ids(upstream, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET.decode())
    with gateway(upstream[0], tmp_path, api_key_ids="hmac", plain_key_ids_for_tests=False) as (base, _):
        call(base, "chat", False, "acct-p", authorization="Bearer sk-live-abcdef123456")
    record = _log(tmp_path / "gateway.jsonl")[0]
    expected = pseudonymize_ip(SECRET, "127.0.0.1")
    assert expected != "127.0.0.1"
    assert record["ip"] == expected
    assert record["api_key_id"] == keyed_hash(SECRET, "api_key", "sk-live-abcdef123456")
    assert PROMPT in json.dumps(record)  # text kept by default: analyze's content signals read it
    batches = list(read_exchanges(tmp_path / "gateway.jsonl"))
    assert [r["ip"] for b in batches for r in b.table.to_pylist()] == [expected]


def test_the_exchange_log_can_keep_addresses_and_drop_text(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path, exchange_log_ip="keep", exchange_log_text="drop") as (base, _):
        for api, stream in CASES:
            call(base, api, stream, "acct-t")
    log = tmp_path / "gateway.jsonl"
    text = log.read_text()
    assert PROMPT not in text and "sum is 100" not in text and "Odd numbers" not in text
    records = _log(log)
    assert {r["ip"] for r in records} == {"127.0.0.1"}
    assert {r["model"] for r in records} >= {"atlas-2-pro", "atlas-2-fast"}  # parameters stay
    assert all(r["request"] for r in records)
    batches = list(read_exchanges(log))
    assert sum(b.table.num_rows for b in batches) == len(CASES)
