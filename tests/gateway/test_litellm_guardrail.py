"""The guardrail inside a real LiteLLM proxy process on loopback, in front of the scripted upstream.

The proxy runs from ``.venv-litellm`` (``make test`` builds it: LiteLLM's proxy extra pins polars and rich
below the versions distillguard uses), or the ``litellm`` executable named by ``DISTILLGUARD_LITELLM``.
Without one the test is skipped, except under CI, where it fails.
"""

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest
from gwshapes import ANSWER, REASONING

from distillguard.core.decision import Action
from distillguard.gateway.app import build_engine
from distillguard.gateway.config import load_gateway_config
from distillguard.gateway.summarize import ExtractiveSummarizer
from polling import wait_until
from redis_server import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = ExtractiveSummarizer().summarize(REASONING)
KEYS = {"acct-ok": "sk-acct-ok-1", "acct-strip": "sk-acct-strip-1", "acct-sum": "sk-acct-sum-1",
        "acct-block": "sk-acct-block-1"}

# LiteLLM loads a guardrail class and a custom auth function from files beside its config.
GUARDRAIL_PY = "from distillguard.gateway.litellm_guardrail import DistillguardGuardrail  # noqa: F401\n"
AUTH_PY = """
from litellm.proxy._types import UserAPIKeyAuth

ACCOUNTS = {accounts!r}


async def user_api_key_auth(request, api_key: str) -> UserAPIKeyAuth:
    # the key's account, as the proxy's key database would give it
    return UserAPIKeyAuth(api_key=api_key, user_id=ACCOUNTS[api_key])
"""


def litellm_executable() -> Path:
    named = os.environ.get("DISTILLGUARD_LITELLM")
    path = Path(named) if named else ROOT / ".venv-litellm" / "bin" / "litellm"
    if not path.exists():
        message = f"no LiteLLM proxy at {path} (make test builds .venv-litellm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def litellm_proxy(config_dir: Path, gateway_config: Path, port: int) -> Iterator[str]:
    """``litellm --config`` in its own process, its output in a file beside the config."""
    env = {**os.environ, "DISTILLGUARD_GATEWAY_CONFIG": str(gateway_config), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_TELEMETRY": "False", "NO_DOCS": "True"}
    log = config_dir / "litellm.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(litellm_executable()), "--config", str(config_dir / "config.yaml"),
                                 "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=config_dir)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the LiteLLM proxy exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            return httpx.get(base + "/health/liveliness", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, "the LiteLLM proxy answering", timeout_s=120, interval_s=0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chat(base: str, account: str, stream: bool) -> tuple[int, str, str | None, dict]:
    """(status, answer, reasoning, error) of one call through the proxy as ``account``."""
    body = {"model": "atlas-2-fast", "stream": stream, "messages": [{"role": "user", "content": "sum?"}]}
    headers = {"authorization": f"Bearer {KEYS[account]}"}
    response = httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=60)
    if response.status_code != 200:
        return response.status_code, "", None, response.json().get("error", {})
    if not stream:
        message = response.json()["choices"][0]["message"]
        return 200, message["content"], message.get("reasoning_content"), {}
    text, reasoning = [], []
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = orjson.loads(line[6:])
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text.append(delta.get("content") or "")
                reasoning.append(delta.get("reasoning_content") or "")
    return 200, "".join(text), "".join(reasoning).strip() or None, {}  # the scripted stream sends words with a space


def test_litellm_proxy_with_the_guardrail_degrades_flagged_accounts_only(upstream, redis_url: str, tmp_path: Path) -> None:
    log = tmp_path / "exchanges.jsonl"
    gateway_config = tmp_path / "gateway.yaml"
    gateway_config.write_text(f"state: {redis_url}\nstate_prefix: 'll{uuid.uuid4().hex[:6]}:'\nexchange_log: {log}\n"
                              "learn_in: thread\nflush_interval_s: 0.05\n")

    async def set_overrides() -> None:  # as an administrator would, on another replica sharing the state
        engine = build_engine(load_gateway_config(gateway_config))
        await engine.start()
        await engine.set_override("acct-strip", Action.STRIP_REASONING, actor="test")
        await engine.set_override("acct-sum", Action.SUMMARIZE_REASONING, actor="test")
        await engine.set_override("acct-block", Action.BLOCK, actor="test")
        await engine.stop()

    asyncio.run(set_overrides())
    (tmp_path / "dg_guardrail.py").write_text(GUARDRAIL_PY)
    (tmp_path / "dg_auth.py").write_text(AUTH_PY.format(accounts={key: acct for acct, key in KEYS.items()}))
    (tmp_path / "config.yaml").write_text(f"""
model_list:
  - model_name: atlas-2-fast
    litellm_params: {{model: openai/atlas-2-fast, api_base: "{upstream[0]}/v1", api_key: sk-upstream}}
guardrails:
  - guardrail_name: distillguard
    litellm_params: {{guardrail: dg_guardrail.DistillguardGuardrail, mode: [pre_call, post_call], default_on: true}}
general_settings:
  custom_auth: dg_auth.user_api_key_auth
litellm_settings:
  telemetry: false
""")
    with litellm_proxy(tmp_path, gateway_config, free_port()) as base:
        for stream in (False, True):
            assert chat(base, "acct-ok", stream)[:3] == (200, ANSWER, REASONING)
            assert chat(base, "acct-strip", stream)[:3] == (200, ANSWER, None)
            assert chat(base, "acct-sum", stream)[:3] == (200, ANSWER, SUMMARY)
            status, _, _, error = chat(base, "acct-block", stream)
            assert status == 403 and error["code"] == "403", error
            assert error["provider_specific_fields"] == {"code": "account_blocked"}, error
        wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 8, "the guardrail logging the 8 exchanges",
                   timeout_s=30)
    lines = log.read_text().splitlines()  # the proxy stopped: everything it logged is there
    records = [orjson.loads(line) for line in lines]
    assert sorted(r["account_id"] for r in records) == sorted(list(KEYS) * 2), [r["account_id"] for r in records]
    assert not any(key in "".join(lines) for key in KEYS.values())  # key ids, never keys
    assert sum(1 for r in upstream[1].requests if r["path"] == "/v1/chat/completions") == 6  # blocked ones never sent
