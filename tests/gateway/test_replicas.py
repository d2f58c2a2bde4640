import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from gwclient import ADMIN, TOKEN, call, put_action

from polling import wait_until
from redis_server import free_port

pytestmark = pytest.mark.slow


@contextmanager
def gateway_process(config: Path, port: int) -> Iterator[str]:
    """``distillguard gateway`` in its own process, its log in a file beside its config (a pipe nobody
    reads would stop it once full)."""
    env = {**os.environ, "DISTILLGUARD_ADMIN_TOKEN": TOKEN}
    log = config.with_name(f"gateway-{port}.log")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "distillguard.cli", "gateway", "--config", str(config), "--port", str(port),
             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"{base} did not stop within 60 s; its log:\n{log.read_text()[-3000:]}") from None


def answers(base: str) -> bool:
    try:
        return httpx.get(base + "/admin/accounts/probe", headers=ADMIN, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_gateway_processes_share_limits_overrides_and_statistics(upstream, redis_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: [{min_risk: 0, action: allow}]\nthrottle: {requests: 6, window_s: 60}\n")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"upstream: {upstream[0]}\nstate: {redis_url}\nstate_prefix: 'r{uuid.uuid4().hex[:6]}:'\n"
                      f"policy: {policy}\nflush_interval_s: 0.05\nfail: closed\n"
                      "learner_priority: low\n")  # the test workers keep both cores busy: no idle CPU to wait for
    with ExitStack() as stack:
        bases = [stack.enter_context(gateway_process(config, free_port())) for _ in range(2)]
        for base in bases:
            wait_until(lambda base=base: answers(base), f"{base} answering", timeout_s=60)
        a, b = bases
        assert put_action(a, "acct-shared", "throttle").status_code == 200
        # the other replica reads overrides from Redis at its next flush (or on an admin lookup, as here)
        assert httpx.get(b + "/admin/accounts/acct-shared", headers=ADMIN).json()["override"] == "throttle"
        codes = [call(bases[i % 2], "chat", False, "acct-shared").status_code for i in range(12)]
        assert codes.count(200) == 6 and codes.count(429) == 6, codes
        assert codes[:6] == [200] * 6

        put_action(b, "acct-shared", "block")
        # the other replica syncs overrides at its next flush
        wait_until(lambda: call(a, "chat", False, "acct-shared").status_code == 403,
                   "the block set on one replica reached the other")

        for i in range(10):
            call(bases[i % 2], "chat", i % 2 == 0, "acct-merged")
        def merged() -> dict | None:
            state = httpx.get(a + "/admin/accounts/acct-merged", headers=ADMIN).json()
            return state if state["online"] and state["online"]["n_exchanges"] == 10 else None

        state = wait_until(merged, "one replica's statistics of acct-merged hold the requests both served")
        assert state["online_distinct_ips"] == 1
