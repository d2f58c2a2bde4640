"""Identity headers count from trusted proxies only: the peer is the connection's, never one a header claims."""

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from gwclient import ADMIN, REQUESTS, TOKEN, put_action

from distillguard.gateway.config import GatewayConfig
from distillguard.gateway.middleware import client_address
from polling import wait_until
from redis_server import free_port

NETS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")]


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("10.0.0.1", None, "10.0.0.1"),
    ("10.0.0.1", "203.0.113.9", "203.0.113.9"),
    ("10.0.0.1", "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the left-most hop is the client's own claim
    ("10.0.0.1", "203.0.113.9, 10.0.0.2, 10.0.0.3", "203.0.113.9"),  # a chain of trusted proxies is walked
    ("10.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.2"),  # all trusted: the farthest one
    ("10.0.0.1", "203.0.113.9:443", "203.0.113.9"),
    ("10.0.0.1", "[2001:db9::1]:443, 2001:db8::5", "2001:db9::1"),
    ("10.0.0.1", "203.0.113.9, garbage, 10.0.0.2", "10.0.0.2"),  # a hop that is no address ends the walk
    ("10.0.0.1", "unknown", "10.0.0.1"),
])
def test_the_client_address_is_the_right_most_untrusted_hop(peer: str, forwarded: str | None, expected: str) -> None:
    assert client_address(peer, forwarded, NETS) == expected


@contextmanager
def gateway_command(upstream_url: str, tmp_path: Path, **settings: object) -> Iterator[str]:
    """``distillguard gateway`` as a user runs it, on a free loopback port; its base URL."""
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"upstream": upstream_url, "exchange_log": str(tmp_path / "gateway.jsonl"),
                                      "learn_in": "thread", "flush_interval_s": 0.05, "exchange_log_ip": "keep",
                                      **settings}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "stderr.txt").open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "distillguard.cli", "gateway", "--config", str(config),
                                    "--port", str(port), "--log-level", "warning"],
                                   env={**os.environ, "DISTILLGUARD_ADMIN_TOKEN": TOKEN}, stderr=stderr)
    try:
        wait_until(lambda: process.poll() is not None or _answers(base), "the gateway command listens", 120)
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {(tmp_path / 'stderr.txt').read_text()}")
        yield base
    finally:
        process.terminate()  # uvicorn shuts down cleanly: the exchange log is flushed
        process.wait(timeout=120)


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/admin/status", headers=ADMIN).status_code == 200
    except httpx.TransportError:
        return False


def _chat(base: str, headers: dict[str, str], local_address: str = "127.0.0.1") -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=local_address)) as client:
        return client.post(base + "/v1/chat/completions", json=REQUESTS["chat"], headers=headers, timeout=30)


def _logged(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "gateway.jsonl").read_text().splitlines()]


def test_a_client_cannot_claim_a_trusted_proxys_address(upstream, tmp_path: Path) -> None:
    with gateway_command(upstream[0], tmp_path, trusted_proxies=["127.0.0.2/32"],
                         client_ip_header="x-forwarded-for") as base:
        put_action(base, "acct-target", "block")
        spoofed = _chat(base, {"x-forwarded-for": "127.0.0.2", "x-distillguard-account": "acct-target"})
        proxied = _chat(base, {"x-forwarded-for": "203.0.113.9", "x-distillguard-account": "acct-target"},
                        local_address="127.0.0.2")
    assert spoofed.status_code == 200  # the claimed account was not believed
    assert proxied.status_code == 403  # from the real trusted proxy it is
    logged = _logged(tmp_path)
    assert (logged[0]["account_id"], logged[0]["ip"]) == ("unidentified", "127.0.0.1")
    assert (logged[1]["account_id"], logged[1]["ip"]) == ("acct-target", "203.0.113.9")


def test_a_trusted_proxy_that_adds_x_forwarded_for_keeps_its_account_header(upstream, tmp_path: Path) -> None:
    with gateway_command(upstream[0], tmp_path, trusted_proxies=["127.0.0.1/32"],
                         client_ip_header="x-forwarded-for") as base:
        put_action(base, "acct-blocked", "block")
        answer = _chat(base, {"x-forwarded-for": "198.51.100.7, 203.0.113.9", "x-distillguard-account": "acct-blocked"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "account_blocked"
    assert _logged(tmp_path)[0]["ip"] == "203.0.113.9"  # what the proxy saw, not what the client wrote


def test_by_default_only_loopback_may_claim_an_account() -> None:
    """A gateway exposed without trusted_proxies configured does not let a client name its own account."""
    config = GatewayConfig(upstream="http://127.0.0.1:9")
    assert config.trusts("127.0.0.1") and config.trusts("::1")
    assert not config.trusts("203.0.113.9") and not config.trusts(None) and not config.trusts("not an address")
    assert not GatewayConfig(upstream="http://127.0.0.1:9", trusted_proxies=[]).trusts("127.0.0.1")
