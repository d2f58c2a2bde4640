"""Helpers of the gateway tests: a gateway on loopback, requests of each API, the reasoning a client sees."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from gwshapes import REASONING
from servers import serving

from distillguard.core.api import ApiFormat
from distillguard.gateway.app import GatewayApp
from distillguard.gateway.capture import collect_stream
from distillguard.gateway.config import load_gateway_config
from distillguard.gateway.summarize import ExtractiveSummarizer

TOKEN = "s3cret-admin-token"
ADMIN = {"authorization": f"Bearer {TOKEN}"}
PATHS = {"anthropic": "/v1/messages", "chat": "/v1/chat/completions", "responses": "/v1/responses"}
REQUESTS = {
    "anthropic": {"model": "atlas-2-pro", "max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 800},
                  "messages": [{"role": "user", "content": "What is the sum of the first ten odd numbers?"}]},
    "chat": {"model": "atlas-2-fast", "reasoning_effort": "high",
             "messages": [{"role": "user", "content": "What is the sum of the first ten odd numbers?"}]},
    "responses": {"model": "atlas-2-pro", "reasoning": {"effort": "high", "summary": "auto"},
                  "input": "What is the sum of the first ten odd numbers?"},
}
CASES = [(api, stream) for api in PATHS for stream in (False, True)]
SUMMARY = ExtractiveSummarizer().summarize(REASONING)
# distinctive fragments of the trace that a summary of at most two sentences leaves out
TRACE_MARKERS = ("Odd numbers are 1, 3, 5", "1+3+5+7+9")


@contextmanager
def gateway(upstream_url: str, tmp_path: Path, **settings) -> Iterator[tuple[str, GatewayApp]]:
    settings = {"api_key_ids": "plain", "plain_key_ids_for_tests": True, "flush_interval_s": 0.05, "learn_in": "thread",
                **settings}
    config = load_gateway_config(None, upstream=upstream_url, exchange_log=tmp_path / "gateway.jsonl", **settings)
    app = GatewayApp(config)
    with serving(app) as url:
        yield url, app


def call(base: str, api: str, stream: bool, account: str | None = "acct-1", **headers: str) -> httpx.Response:
    body = {**REQUESTS[api], "stream": stream}
    if account is not None:
        headers["x-distillguard-account"] = account
    return httpx.post(base + PATHS[api], json=body, headers=headers, timeout=30)


def put_action(base: str, account: str, action: str) -> httpx.Response:
    return httpx.put(f"{base}/admin/accounts/{account}/action", json={"action": action}, headers=ADMIN)


def reasoning_of(api: str, response: httpx.Response, stream: bool) -> str | None:
    """The reasoning a client gets, folded the way the gateway logs it."""
    doc = collect_stream(ApiFormat(api), response.content) if stream else response.json()
    if api == "responses":
        texts = [p["text"] for item in doc["output"] if item["type"] == "reasoning"
                 for key in ("summary", "content") for p in item.get(key) or ()]
        return " ".join(texts) if texts else None
    if stream:
        return doc["reasoning"]
    if api == "anthropic":
        texts = [b["thinking"] for b in doc["content"] if b["type"] == "thinking"]
        return " ".join(texts) if texts else None
    return doc["choices"][0]["message"].get("reasoning_content")


