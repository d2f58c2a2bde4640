"""Administrators' overrides are durable: stored with an audit entry, re-seeded when Redis comes back empty
(issue 14, item 3)."""

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from gwclient import ADMIN, TOKEN, call, gateway

from distillguard.core.decision import Action
from distillguard.gateway.app import build_engine
from distillguard.gateway.config import load_gateway_config
from distillguard.gateway.overrides import Overrides
from distillguard.store import Store
from distillguard.store.enforcement import override_history
from polling import wait_until
from redis_server import free_port


class RestartableRedis:
    """A redis-server without persistence on a fixed port, that can be killed (-9) and started again empty."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed (.ci/run installs it)")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), "redis-server answering")
        client.close()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # SIGKILL: nothing saved
            self.proc.wait(timeout=10)
            self.proc = None

    def set(self, key: str) -> None:
        client = redis.Redis.from_url(self.url)
        try:
            client.set(key, b"1")
        finally:
            client.close()

    def stored_keys(self) -> list[bytes]:
        client = redis.Redis.from_url(self.url)
        try:
            return list(client.keys("*"))
        finally:
            client.close()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    server = RestartableRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@contextmanager
def durable_gateway(upstream_url: str, tmp_path: Path, state: str, **settings: object) -> Iterator[str]:
    db = tmp_path / "store.duckdb"
    Store(db).open().close()  # the store an analysis wrote (empty here)
    with gateway(upstream_url, tmp_path, state=state, state_prefix=f"o{uuid.uuid4().hex[:6]}:", db=db,
                 refresh_interval_s=0.2, **settings) as (base, _):
        yield base


def _blocked_share(base: str, account: str, n: int) -> float:
    return sum(call(base, "chat", False, account).status_code == 403 for _ in range(n)) / n


def test_an_override_survives_redis_restarting_empty_and_a_gateway_restart(upstream, tmp_path: Path,
                                                                          restartable_redis: RestartableRedis) -> None:
    with durable_gateway(upstream[0], tmp_path, restartable_redis.url) as base:
        answer = httpx.put(f"{base}/admin/accounts/acct-b/action", headers=ADMIN,
                           json={"action": "block", "reason": "ticket 4711: harvesting"})
        assert answer.status_code == 200 and answer.json()["override"] == "block"
        assert _blocked_share(base, "acct-b", 5) == 1.0
        restartable_redis.set("marker")
        restartable_redis.kill()
        restartable_redis.start()
        assert b"marker" not in restartable_redis.stored_keys()  # empty, bar what the gateway re-seeds at once
        assert _blocked_share(base, "acct-b", 60) == 1.0
        assert call(base, "chat", False, "acct-free").status_code == 200
        wait_until(lambda: [k for k in restartable_redis.stored_keys() if k.endswith(b"overrides")], "overrides re-seeded")
    restartable_redis.kill()  # both gone: only the store remembers
    restartable_redis.start()
    with durable_gateway(upstream[0], tmp_path, restartable_redis.url) as base:
        assert _blocked_share(base, "acct-b", 20) == 1.0
        assert httpx.get(f"{base}/admin/accounts/acct-b", headers=ADMIN).json()["override"] == "block"


def test_each_override_change_is_stored_with_its_audit_entry_never_the_token(upstream, tmp_path: Path) -> None:
    with durable_gateway(upstream[0], tmp_path, "memory://") as base:
        httpx.put(f"{base}/admin/accounts/acct-a/action", headers=ADMIN, json={"action": "throttle", "reason": "r1"})
        httpx.put(f"{base}/admin/accounts/acct-a/action", headers=ADMIN, json={"action": "block"})
        removed = httpx.request("DELETE", f"{base}/admin/accounts/acct-a/action", headers=ADMIN,
                                json={"reason": "appeal granted"})
        assert removed.status_code == 200 and removed.json()["override"] is None
        shown = removed.json()["override_history"]
        assert call(base, "chat", False, "acct-a").status_code == 200
    with Store(tmp_path / "store.duckdb", read_only=True) as store:
        history = override_history(store, "acct-a")
    assert [(h.action, h.reason) for h in history] == [("throttle", "r1"), ("block", None), (None, "appeal granted")]
    assert [h["action"] for h in shown] == ["throttle", "block", None]
    assert len({h.actor for h in history}) == 1 and history[0].actor.startswith("admin-token:")
    assert all(TOKEN not in h.actor for h in history)
    assert history[0].decided_at <= history[1].decided_at <= history[2].decided_at


def test_an_override_the_store_cannot_take_is_refused_and_not_applied(upstream, tmp_path: Path) -> None:
    with durable_gateway(upstream[0], tmp_path, "memory://", admin_write_timeout_s=0.5) as base:
        holder = subprocess.Popen(  # another process writing the store, as a running analysis does
            [sys.executable, "-c", "import sys, time; from pathlib import Path; from distillguard.store import Store;"
             f" s = Store(Path({str(tmp_path / 'store.duckdb')!r})).open(); print('open', flush=True);"
             " sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
            refused = httpx.put(f"{base}/admin/accounts/acct-x/action", headers=ADMIN, json={"action": "block"})
            assert refused.status_code == 503 and "not stored" in refused.json()["error"]["message"]
            assert call(base, "chat", False, "acct-x").status_code == 200
        finally:
            holder.communicate(b"", timeout=30)
        assert httpx.put(f"{base}/admin/accounts/acct-x/action", headers=ADMIN,
                         json={"action": "block"}).status_code == 200
        assert call(base, "chat", False, "acct-x").status_code == 403


@pytest.mark.parametrize("body", [{"action": "block", "reason": 5}, {"action": "block", "reason": "x" * 5000}])
def test_a_bad_reason_is_refused(upstream, tmp_path: Path, body: dict) -> None:
    with durable_gateway(upstream[0], tmp_path, "memory://") as base:
        answer = httpx.put(f"{base}/admin/accounts/acct-r/action", headers=ADMIN, json=body)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "reason"


def test_the_later_set_of_overrides_wins() -> None:
    stored = Overrides().changed("a", None, 1)
    old = Overrides(0, {})
    assert Overrides.newer(old, stored) is stored and Overrides.newer(None, stored) is stored
    later = stored.changed("b", None, 2)
    assert Overrides.newer(later, stored) is later
    assert Overrides.load(later.dump()) == later
    assert Overrides.load(b'{"acct-old": "block"}') == Overrides(0, {"acct-old": Action.BLOCK})  # before seq


def test_an_override_is_stored_and_enforced_while_redis_is_down(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    Store(db).open().close()
    config = load_gateway_config(None, upstream="http://127.0.0.1:9", db=db, learn_in="thread",
                                 state=f"redis://127.0.0.1:{free_port()}/0")

    async def run() -> tuple[str, str]:
        engine = build_engine(config)
        await engine.start()
        try:
            await engine.set_override("acct-d", Action.BLOCK, "admin-token:test", "redis is down")
            return engine.verdict("acct-d").action.value, str(engine.state_ok)
        finally:
            await engine.stop()

    assert asyncio.run(run()) == ("block", "False")
    with Store(db, read_only=True) as store:
        assert [(h.action, h.reason) for h in override_history(store, "acct-d")] == [("block", "redis is down")]
