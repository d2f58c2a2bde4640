"""Every request gets its account's decision, whatever its route, method or spelling of the path."""

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from gwclient import REQUESTS, TRACE_MARKERS, gateway, put_action
from servers import lifespan, serving
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from distillguard.core.api import ApiFormat, api_route
from distillguard.gateway.adapters import DistillguardMiddleware
from distillguard.gateway.config import load_gateway_config

#: (method, request target as sent on the wire, API it reaches or None): the variants of issue 14.
VARIANTS: list[tuple[str, str, ApiFormat | None]] = [
    ("POST", "/v1/completions", None),
    ("POST", "/v1/embeddings", None),
    ("POST", "/v1/messages/batches", None),
    ("GET", "/v1/responses/resp_123", None),
    ("PUT", "/v1/chat/completions", None),
    ("GET", "/v1/chat/completions", None),
    ("POST", "/v1/chat/completions/", ApiFormat.CHAT),
    ("POST", "//v1/chat/completions", ApiFormat.CHAT),
    ("POST", "/v1/./chat/completions", ApiFormat.CHAT),
    ("POST", "/v1/x/../chat/completions", ApiFormat.CHAT),
    ("POST", "/V1/chat/completions", ApiFormat.CHAT),
    ("POST", "/v1/chat/completions;x", ApiFormat.CHAT),
    ("POST", "/v1/chat%2Fcompletions", ApiFormat.CHAT),
    ("POST", "/v1/%63hat/completions?x=1", ApiFormat.CHAT),
    ("POST", "/v1/messages/", ApiFormat.ANTHROPIC),
    ("POST", "/V1/Messages", ApiFormat.ANTHROPIC),
    ("POST", "/v1/responses;jsessionid=1", ApiFormat.RESPONSES),
    ("DELETE", "/v1/responses/resp_123", None),
    ("GET", "/v1/models", None),
    ("PATCH", "/v1/messages", None),
]


def send_raw(base: str, method: str, target: str, account: str, body: bytes = b"") -> tuple[int, bytes]:
    """(status, body) of one request whose target goes on the wire byte for byte (httpx would normalise it)."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(method, target, body=body or None,
                           headers={"x-distillguard-account": account, "content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _body(api: ApiFormat | None, target: str) -> bytes:
    fmt = api or (ApiFormat.ANTHROPIC if "messages" in target.lower() else ApiFormat.CHAT)
    return json.dumps(REQUESTS[fmt.value]).encode()


@pytest.mark.parametrize(("method", "target", "api"), VARIANTS)
def test_each_variant_routes_to_the_api_the_upstream_serves(method: str, target: str, api: ApiFormat | None) -> None:
    assert api_route(method, target.split("?", 1)[0]) is api


def test_every_route_variant_gets_the_accounts_decision_and_is_logged(upstream, tmp_path: Path) -> None:
    url, app = upstream
    wrong: list[tuple[str, str, str, int]] = []
    with gateway(url, tmp_path) as (base, _):
        put_action(base, "acct-blocked", "block")
        put_action(base, "acct-stripped", "strip_reasoning")
        for method, target, api in VARIANTS:
            for account in ("acct-blocked", "acct-stripped", "acct-free"):
                before = len(app.requests)
                status, body = send_raw(base, method, target, account, _body(api, target))
                forwarded = len(app.requests) > before
                if account == "acct-blocked" or (account == "acct-stripped" and api is None):
                    ok = status == 403 and not forwarded and "error" in json.loads(body)
                elif account == "acct-stripped":
                    ok = status == 200 and forwarded and not any(m.encode() in body for m in TRACE_MARKERS)
                else:
                    ok = status == 200 and forwarded
                if api is not None and forwarded:
                    ok = ok and app.requests[-1]["path"] == api.path  # the upstream serves what was decided on
                if not ok:
                    wrong.append((method, target, account, status))
    assert wrong == []
    logged = [json.loads(line) for line in (tmp_path / "gateway.jsonl").read_text().splitlines()]
    assert len(logged) == 3 * len(VARIANTS)
    assert {(r["account_id"], r["action"]) for r in logged} == {
        ("acct-blocked", "block"), ("acct-stripped", "strip_reasoning"), ("acct-free", "allow")}
    assert sum(r["decision"]["refused_with"] == 403 for r in logged) == len(VARIANTS) + sum(
        api is None for _, _, api in VARIANTS)


@pytest.mark.parametrize(("rules", "account", "action", "status"), [
    ({"restricted": "forward"}, "acct-s", "strip_reasoning", 200),
    ({"allowed": "deny"}, "acct-a", "allow", 403),
    ({"restricted": "forward"}, "acct-b", "block", 403),  # blocked accounts are refused whatever the rules
])
def test_unknown_routes_follow_the_configured_rule(upstream, tmp_path: Path, rules: dict, account: str, action: str,
                                                   status: int) -> None:
    with gateway(upstream[0], tmp_path, unknown_routes=rules) as (base, _):
        put_action(base, account, action)
        got, body = send_raw(base, "POST", "/v1/completions", account, b'{"prompt": "hi"}')
    assert got == status
    if status == 403:
        assert json.loads(body)["error"]["type"] == "permission_error"


def test_an_unparseable_body_on_an_api_route_still_gets_the_accounts_decision(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        put_action(base, "acct-blocked", "block")
        status, body = send_raw(base, "POST", "/v1/messages", "acct-blocked", b"\xff not json {")
    assert status == 403 and json.loads(body)["type"] == "error"
    assert json.loads((tmp_path / "gateway.jsonl").read_text())["account_id"] == "acct-blocked"


async def _echo_socket(scope: dict, receive: Any, send: Any) -> None:
    """A server's own app: answers HTTP with 200 and echoes WebSocket messages."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    else:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message.get("text")})
        await send({"type": "websocket.close"})


def test_a_websocket_gets_the_accounts_decision_inside_another_server(tmp_path: Path) -> None:
    config = load_gateway_config(None, exchange_log=tmp_path / "gateway.jsonl", learn_in="thread",
                                 flush_interval_s=0.05)
    with serving(DistillguardMiddleware(_echo_socket, config)) as base:
        put_action(base, "acct-blocked", "block")
        ws = base.replace("http://", "ws://") + "/v1/realtime"
        with connect(ws, additional_headers={"x-distillguard-account": "acct-free"}) as socket:
            socket.send("hello")
            assert socket.recv(timeout=30) == "hello"
        with pytest.raises(InvalidStatus) as refused:
            connect(ws, additional_headers={"x-distillguard-account": "acct-blocked"})
    assert refused.value.response.status_code == 403
    logged = [json.loads(line) for line in (tmp_path / "gateway.jsonl").read_text().splitlines()]
    assert [(r["account_id"], r["endpoint"], r["status"]) for r in logged] == [
        ("acct-free", "/v1/realtime", None), ("acct-blocked", "/v1/realtime", 403)]


def test_dry_run_forwards_other_routes_and_logs_the_refusal_they_would_get(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path, dry_run=True) as (base, _):
        put_action(base, "acct-stripped", "strip_reasoning")
        status, _ = send_raw(base, "POST", "/v1/completions", "acct-stripped", b'{"prompt": "hi"}')
    assert status == 200
    record = json.loads((tmp_path / "gateway.jsonl").read_text())
    assert record["endpoint"] == "/v1/completions" and record["decision"]["refused_with"] == 403
    assert record["decision"]["enforced"] is False
