import asyncio
import hashlib
import importlib.abc
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from gwclient import ADMIN, CASES, SUMMARY, TRACE_MARKERS, call, gateway, put_action, reasoning_of
from gwshapes import ANSWER
from servers import lifespan, request_body, serving

from distillguard.gateway.app import GatewayApp
from distillguard.gateway.config import load_gateway_config
from distillguard.gateway.proxy import UpstreamApp, UpstreamPool
from distillguard.gateway.secret import keyed_hash
from distillguard.ingest import read_exchanges
from polling import wait_until
from redis_server import free_port


@pytest.mark.parametrize(("api", "stream"), CASES)
def test_allowed_account_gets_the_upstreams_bytes(upstream, tmp_path: Path, api: str, stream: bool) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        direct = call(upstream[0], api, stream)
        through = call(base, api, stream)
    assert through.status_code == 200
    assert through.content == direct.content
    assert through.headers["content-type"] == direct.headers["content-type"]


@pytest.mark.parametrize("action", ["strip_reasoning", "summarize_reasoning"])
def test_flagged_account_loses_its_reasoning_in_every_api(upstream, tmp_path: Path, action: str) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        assert put_action(base, "acct-x", action).status_code == 200
        for api, stream in CASES:
            response = call(base, api, stream, "acct-x")
            assert response.status_code == 200, (api, stream)
            assert ANSWER in response.text
            assert all(m not in response.text for m in TRACE_MARKERS), (api, stream)
            got = reasoning_of(api, response, stream)
            if action == "strip_reasoning":
                assert got is None, (api, stream)
            else:
                assert got == SUMMARY, (api, stream)
            if not stream:
                assert int(response.headers["content-length"]) == len(response.content)


def test_throttle_answers_429_with_retry_after(upstream, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: [{min_risk: 0, action: allow}]\nthrottle: {requests: 3, window_s: 30}\n")
    with gateway(upstream[0], tmp_path, policy=policy) as (base, _):
        put_action(base, "acct-t", "throttle")
        codes = [call(base, "chat", False, "acct-t") for _ in range(5)]
        other = call(base, "chat", False, "acct-other")
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert 1 <= int(codes[3].headers["retry-after"]) <= 30
    assert codes[3].json()["error"]["type"] == "rate_limit_error"
    assert other.status_code == 200


@pytest.mark.parametrize(("api", "shape"), [("anthropic", "type"), ("chat", "error")])
def test_block_and_verification_refuse_with_structured_errors(upstream, tmp_path: Path, api: str, shape: str) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        put_action(base, "acct-b", "block")
        put_action(base, "acct-v", "require_verification")
        blocked = call(base, api, False, "acct-b")
        verify = call(base, api, True, "acct-v")
    assert blocked.status_code == 403 and shape in blocked.json()
    assert blocked.json()["error"]["code"] == "account_blocked"
    assert verify.status_code == 403
    assert verify.json()["error"]["code"] == "verification_required"
    assert verify.json()["error"]["verification_tier"] == "id_document"


def test_dry_run_decides_and_logs_without_enforcing(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path, dry_run=True) as (base, _):
        put_action(base, "acct-d", "block")
        direct = call(upstream[0], "anthropic", True)
        through = call(base, "anthropic", True, "acct-d")
    assert through.status_code == 200 and through.content == direct.content
    record = json.loads((tmp_path / "gateway.jsonl").read_text().splitlines()[-1])
    assert record["action"] == "block" and record["decision"]["enforced"] is False
    assert record["decision"]["source"] == "override"
    assert record["decision"]["refused_with"] == 403


def test_every_decision_is_logged_in_the_shape_analyze_reads(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        put_action(base, "acct-s", "strip_reasoning")
        for api, stream in CASES:
            call(base, api, stream, "acct-s", **{"x-api-key": "key_abc"})
        call(base, "chat", False, "acct-free")
    log = tmp_path / "gateway.jsonl"
    text = log.read_text()
    assert "key_abc" in text  # plain key ids in this test; with sha256 the key itself never appears
    batches = list(read_exchanges(log))
    assert sum(b.table.num_rows for b in batches) == len(CASES) + 1
    assert not [r for b in batches for r in b.rejects]
    rows = [r for b in batches for r in b.table.to_pylist()]
    extras = [json.loads(r["extra"]) for r in rows]
    assert [e["action"] for e in extras].count("strip_reasoning") == len(CASES)
    assert {e["action"] for e in extras} == {"strip_reasoning", "allow"}
    # the log keeps what the upstream produced: the reasoning is there for analysis
    assert all(r["response_reasoning"] for r in rows)


def test_api_keys_are_hashed_by_default_and_never_logged(upstream, tmp_path: Path) -> None:
    config = load_gateway_config(None, upstream=upstream[0], exchange_log=tmp_path / "g.jsonl", flush_interval_s=0.05,
                                 learn_in="process")
    with serving(GatewayApp(config)) as base:
        call(base, "chat", False, "acct-k", authorization="Bearer sk-live-abcdef123456")
    text = (tmp_path / "g.jsonl").read_text()
    assert "sk-live-abcdef123456" not in text
    secret = (tmp_path / "gateway.key").read_text().strip().encode()  # generated beside the exchange log
    key_id = json.loads(text)["api_key_id"]
    assert key_id == keyed_hash(secret, "api_key", "sk-live-abcdef123456")
    assert key_id != hashlib.sha256(b"sk-live-abcdef123456").hexdigest()  # unkeyed: reversible for known keys


def _children() -> list[int]:
    """Process ids of this process's children (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.append(int(stat.parent.name))
        except (OSError, IndexError):
            continue  # ended meanwhile
    return found


def test_the_learner_process_runs_on_idle_cpu_only(upstream, tmp_path: Path) -> None:
    config = load_gateway_config(None, upstream=upstream[0], exchange_log=tmp_path / "g.jsonl", learn_in="process")
    before = set(_children())
    with serving(GatewayApp(config)):
        policies = {os.sched_getscheduler(pid) for pid in set(_children()) - before}
    assert os.SCHED_IDLE in policies  # the learner (multiprocessing's resource tracker keeps the default)
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the gateway itself keeps its priority


def test_status_counts_what_the_learner_could_not_take(upstream, tmp_path: Path) -> None:
    # a learner far behind: one flush a minute, room for two pending requests, handed over one at a time
    with gateway(upstream[0], tmp_path, flush_interval_s=60, max_pending=2, learn_batch=1) as (base, _):
        for _ in range(5):
            assert call(base, "chat", False, "acct-s").status_code == 200
        status = httpx.get(base + "/admin/status", headers=ADMIN).json()
        assert httpx.get(base + "/admin/status").status_code == 401
    assert status["pending"] == 2 and status["dropped"] == 3 and status["store_ok"] is True
    assert len((tmp_path / "gateway.jsonl").read_text().splitlines()) == 2  # the two kept, flushed at the stop


def test_other_paths_pass_through(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        response = httpx.get(base + "/v1/models?limit=2", headers={"x-distillguard-account": "a"})
    assert response.status_code == 200 and response.json()["path"] == "/v1/models"


class _CountingFinder(importlib.abc.MetaPathFinder):
    """Counts module searches (finds nothing itself)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        self.names.append(name)


def test_forwarding_searches_for_no_module_per_request(upstream, tmp_path: Path) -> None:
    finder = _CountingFinder()
    with gateway(upstream[0], tmp_path) as (base, _):
        for api, stream in CASES:
            call(base, api, stream)  # every lazy import of a first request done
        sys.meta_path.insert(0, finder)
        try:
            for api, stream in CASES * 3:
                assert call(base, api, stream).status_code == 200
        finally:
            sys.meta_path.remove(finder)
    assert finder.names == []


def test_a_cookie_the_upstream_sets_never_reaches_another_accounts_request(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        first = httpx.get(base + "/v1/login", headers={"x-distillguard-account": "acct-a"})
        assert first.headers.get("set-cookie", "").startswith("cdn_session=")  # passed back to its own caller
        assert httpx.get(base + "/v1/models", headers={"x-distillguard-account": "acct-b"}).status_code == 200
    assert "cookie" not in upstream[1].requests[-1]["headers"]


class _EchoUpstream:
    """An upstream that answers with what it received; ``/slow`` answers only after ``delay_s``."""

    def __init__(self, delay_s: float = 2.0) -> None:
        self.delay_s = delay_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = await request_body(receive)
        if scope["path"] == "/slow":
            await asyncio.sleep(self.delay_s)
        echo = json.dumps({"path": scope["path"], "query": scope["query_string"].decode(), "body": body.decode(),
                           "client_port": scope["client"][1],
                           "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]]}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": echo})


def test_forwarding_keeps_prefix_query_and_streamed_body_and_drops_hop_by_hop_headers(tmp_path: Path) -> None:
    parts = [b'{"part": 1, ', b'"rest": "' + b"x" * 70_000 + b'"}']
    with serving(_EchoUpstream()) as up, gateway(up + "/base/", tmp_path) as (base, _):
        response = httpx.post(base + "/v1/models?limit=2&q=a%20b", content=iter(parts),
                              headers={"x-distillguard-account": "a", "te": "trailers", "x-custom": "kept",
                                       "cookie": "mine=1", "connection": "keep-alive"})
    echo = response.json()
    headers = dict(echo["headers"])
    assert response.status_code == 200
    assert (echo["path"], echo["query"]) == ("/base/v1/models", "limit=2&q=a%20b")
    assert echo["body"] == b"".join(parts).decode()
    assert headers["host"] == up.removeprefix("http://") and headers["x-custom"] == "kept"
    assert headers["cookie"] == "mine=1" and "te" not in headers and "connection" not in headers


def test_the_forwarder_reuses_a_keep_alive_connection(tmp_path: Path) -> None:
    with serving(_EchoUpstream()) as up, gateway(up, tmp_path) as (base, _):
        ports = {httpx.get(base + "/v1/models", headers={"x-distillguard-account": f"a{i}"}).json()["client_port"]
                 for i in range(5)}
    assert len(ports) == 1


def test_an_unreachable_or_slow_upstream_answers_502_or_504(tmp_path: Path) -> None:
    with gateway(f"http://127.0.0.1:{free_port()}", tmp_path) as (base, _):
        down = httpx.get(base + "/v1/models", headers={"x-distillguard-account": "a"})
    with serving(_EchoUpstream()) as up, gateway(up, tmp_path, upstream_timeout_s=0.3) as (base, _):
        slow = httpx.get(base + "/slow", headers={"x-distillguard-account": "a"}, timeout=30)
    assert down.status_code == 502 and down.json()["error"] == {
        "type": "bad_gateway", "message": "upstream unreachable: ConnectError", "param": None,
        "code": "upstream_unreachable"}
    # the upstream would have answered 200 after 2 s: a 504 for a read timeout is the gateway's 0.3 s bound
    assert slow.status_code == 504 and slow.json()["error"]["message"] == "upstream timed out: ReadTimeout"


def test_a_request_finding_no_free_upstream_connection_in_time_answers_504() -> None:
    async def run() -> list[dict]:
        pool = UpstreamPool("http://127.0.0.1:9", max_connections=1)
        held = await pool.acquire(1.0)  # the only connection, busy with another request
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"",
                 "headers": []}
        await UpstreamApp(pool, 0.2)(scope, receive, send)
        await pool.release(held)
        return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"])["error"]["message"] == "upstream timed out: PoolTimeout"


@pytest.mark.parametrize(("trusted", "blocked"), [(["10.0.0.0/8"], False), (["127.0.0.0/8"], True)])
def test_the_account_header_counts_only_from_trusted_proxies(upstream, tmp_path: Path, trusted: list[str],
                                                             blocked: bool) -> None:
    with gateway(upstream[0], tmp_path, trusted_proxies=trusted) as (base, _):
        assert put_action(base, "acct-banned", "block").status_code == 200
        answer = call(base, "chat", False, "acct-banned")
    assert (answer.status_code == 403) is blocked


def test_admin_api_needs_the_token(upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        assert httpx.get(base + "/admin/accounts/a").status_code == 401
        assert httpx.get(base + "/admin/accounts/a", headers={"authorization": "Bearer nope"}).status_code == 401
        bad = put_action(base, "a", "explode")
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "action"
        state = httpx.get(base + "/admin/accounts/a", headers=ADMIN).json()
        assert state["action"] == "allow" and state["override"] is None
        put_action(base, "a", "summarize_reasoning")
        state = httpx.get(base + "/admin/accounts/a", headers=ADMIN).json()
        assert state["action"] == "summarize_reasoning" and state["source"] == "override"
        assert httpx.delete(base + "/admin/accounts/a/action", headers=ADMIN).json()["action"] == "allow"
        monkeypatch.delenv("DISTILLGUARD_ADMIN_TOKEN")
        refused = httpx.get(base + "/admin/accounts/a", headers=ADMIN)
        assert refused.status_code == 403 and "not set" in refused.json()["error"]["message"]


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_unreachable_redis_fails_open_or_closed(upstream, tmp_path: Path, fail: str) -> None:
    with gateway(upstream[0], tmp_path, state=f"redis://127.0.0.1:{free_port()}/0", fail=fail) as (base, _):
        call(base, "chat", False, "acct-r")
        wait_until(lambda: not httpx.get(base + "/admin/status", headers=ADMIN).json()["state_ok"],
                   "the gateway noticed its online state is down")
        response = call(base, "chat", False, "acct-r")
        direct = call(upstream[0], "chat", False)
    if fail == "open":
        assert response.status_code == 200 and response.content == direct.content
    else:
        assert response.status_code == 503 and response.json()["error"]["code"] == "gateway_unavailable"


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_unreadable_store_fails_open_or_closed(upstream, tmp_path: Path, fail: str) -> None:
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"this is not a database" * 100)
    with gateway(upstream[0], tmp_path, db=broken, fail=fail) as (base, _):
        response = call(base, "anthropic", False, "acct-s")
    assert response.status_code == (200 if fail == "open" else 503)
