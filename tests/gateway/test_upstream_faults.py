"""The gateway against an upstream that compresses, resets, cuts or stalls its answers (issue 14, items 5 and 6)."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from faulty import compress, faulty_upstream
from gwclient import CASES, PATHS, REQUESTS, gateway, put_action, reasoning_of
from gwshapes import ANSWER, STREAMS, WHOLE, sse
from servers import lifespan, request_body, serving

from distillguard.core.api import ApiFormat
from distillguard.gateway.app import GatewayApp
from distillguard.gateway.config import GatewayConfig, load_gateway_config
from distillguard.gateway.sse import SseParser


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def server_errors() -> Iterator[list[str]]:
    """The errors uvicorn logs meanwhile (attached once the server configured its logging)."""
    kept = _Kept()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(kept)
    try:
        yield kept.messages
    finally:
        logger.removeHandler(kept)


def _post(base: str, api: str, stream: bool, account: str, fault: str) -> httpx.Response:
    return httpx.post(base + PATHS[api], json={**REQUESTS[api], "stream": stream}, timeout=30,
                      headers={"x-distillguard-account": account, "x-fault": fault})


def _events(body: bytes) -> list[tuple[str | None, dict]]:
    parser = SseParser()
    assert body.endswith(b"\n\n"), body[-80:]  # no cut event at the end
    return [(e.event, json.loads(e.data)) for e in parser.feed(body) if not e.is_done]


def _is_api_error(api: str, doc: dict, stream: bool = False) -> bool:
    if api == "responses" and stream:
        return doc["type"] == "error" and isinstance(doc["message"], str) and doc["code"] == "upstream_failed"
    if api == "anthropic":
        return doc["type"] == "error" and doc["error"]["type"] in ("api_error", "timeout_error")
    return isinstance(doc.get("error"), dict) and isinstance(doc["error"].get("message"), str)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_answers_are_decoded_and_stripped(tmp_path: Path, encoding: str) -> None:
    with faulty_upstream() as (up, seen), gateway(up, tmp_path) as (base, _):
        put_action(base, "acct-s", "strip_reasoning")
        for api, stream in CASES:
            degraded = _post(base, api, stream, "acct-s", encoding)
            allowed = _post(base, api, stream, "acct-a", encoding)
            for response in (degraded, allowed):
                assert response.status_code == 200
                assert "content-encoding" not in response.headers
                assert ANSWER in response.text
                if not stream:
                    assert int(response.headers["content-length"]) == len(response.content)
            assert reasoning_of(api, degraded, stream) is None and "Odd numbers" not in degraded.text, (api, stream)
            assert "Odd numbers are 1, 3, 5" in (reasoning_of(api, allowed, stream) or "")
    assert all(r["headers"].get("accept-encoding") == "identity" for r in seen)


@pytest.mark.parametrize("fault", ["reset", "cut", "stall", "close-delimited"])
def test_an_answer_broken_midway_ends_in_an_error_of_the_apis_shape(tmp_path: Path, fault: str) -> None:
    with faulty_upstream() as (up, _), gateway(up, tmp_path, upstream_timeout_s=0.5) as (base, _), \
            server_errors() as errors:
        put_action(base, "acct-s", "strip_reasoning")
        for api, stream in CASES:
            for account in ("acct-a", "acct-s"):
                response = _post(base, api, stream, account, fault)
                if stream:
                    assert response.status_code == 200
                    events = _events(response.content)
                    name, last = events[-1]
                    assert _is_api_error(api, last, stream=True), (api, fault, last)
                    assert name == (None if api == "chat" else "error")
                    if api == "responses":
                        assert last["sequence_number"] == len(events) - 1
                else:
                    assert response.status_code == (504 if fault == "stall" else 502), (api, fault)
                    assert _is_api_error(api, response.json()), response.text
                    if api == "anthropic":
                        assert response.json()["type"] == "error"
    assert not errors  # no "Exception in ASGI application", no response left incomplete


@pytest.mark.parametrize(("fault", "status"), [("no-answer", 502), ("slow-headers", 504)])
def test_an_upstream_failing_before_its_answer_gets_a_json_error_of_the_apis_shape(tmp_path: Path, fault: str,
                                                                                   status: int) -> None:
    with faulty_upstream() as (up, _), gateway(up, tmp_path, upstream_timeout_s=0.5) as (base, _):
        for api, stream in CASES:
            response = _post(base, api, stream, "acct-a", fault)
            assert response.status_code == status
            assert response.headers["content-type"] == "application/json"
            assert _is_api_error(api, response.json())
            if ApiFormat(api) is ApiFormat.ANTHROPIC:
                assert response.json()["error"]["type"] == ("timeout_error" if status == 504 else "api_error")


@pytest.mark.parametrize(("fault", "status"), [("html-500", 500), ("not-json", 502)])
def test_an_answer_that_is_not_json_becomes_an_error_of_the_apis_shape(tmp_path: Path, fault: str,
                                                                       status: int) -> None:
    with faulty_upstream() as (up, _), gateway(up, tmp_path) as (base, _):
        for api, stream in CASES:
            response = _post(base, api, stream, "acct-a", fault)
            if stream and fault == "not-json":  # garbage where events should be: the stream's error event
                assert response.status_code == 200 and _is_api_error(api, _events(response.content)[-1][1], True)
                continue
            assert response.status_code == status, (api, stream)
            assert _is_api_error(api, response.json()) and "not JSON" in response.text


def test_a_healthy_stream_passes_unchanged(tmp_path: Path) -> None:
    with faulty_upstream() as (up, _), gateway(up, tmp_path) as (base, _):
        for api, _stream in CASES:
            response = _post(base, api, True, "acct-a", "")
            assert _events(response.content)[-1][1].get("type") != "error"
            assert "error" not in _events(response.content)[-1][1]


def test_the_default_upstream_read_timeout_is_minutes_not_ten() -> None:
    assert 60 <= GatewayConfig().upstream_timeout_s <= 120


class _CompressingServer:
    """An OpenAI-compatible server that gzips its answers (streams in 1-7 byte pieces), or names an encoding
    nobody can read when the request asks with ``x-fault: zstd``."""

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = json.loads(await request_body(receive) or b"{}")
        api = {"/v1/messages": "anthropic", "/v1/chat/completions": "chat", "/v1/responses": "responses"}[scope["path"]]
        stream = bool(body.get("stream"))
        payload = compress("gzip", sse(STREAMS[api]()) if stream else json.dumps(WHOLE[api]()).encode())
        zstd = (b"x-fault", b"zstd") in scope["headers"]
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream" if stream else b"application/json"),
            (b"content-encoding", b"zstd" if zstd else b"gzip"), (b"content-length", b"%d" % len(payload))]})
        i = 0
        while i < len(payload):
            step = 1 + i % 7
            await send({"type": "http.response.body", "body": payload[i:i + step], "more_body": True})
            i += step
        await send({"type": "http.response.body", "body": b""})


def test_the_middleware_decodes_what_a_wrapped_server_compresses(tmp_path: Path) -> None:
    config = load_gateway_config(None, exchange_log=tmp_path / "g.jsonl", learn_in="thread", flush_interval_s=0.05)
    with serving(GatewayApp(config, inner=_CompressingServer())) as base:
        put_action(base, "acct-s", "strip_reasoning")
        for api, stream in CASES:
            degraded = _post(base, api, stream, "acct-s", "")
            assert degraded.status_code == 200 and "content-encoding" not in degraded.headers
            assert ANSWER in degraded.text and reasoning_of(api, degraded, stream) is None, (api, stream)
            unreadable = _post(base, api, stream, "acct-s", "zstd")
            assert unreadable.status_code == 502 and _is_api_error(api, unreadable.json())
