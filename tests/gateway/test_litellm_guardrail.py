import asyncio
import os

import pytest
from gwshapes import ANSWER, REASONING

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
litellm = pytest.importorskip("litellm", reason="the litellm extra is not installed")

from litellm.proxy._types import ProxyException, UserAPIKeyAuth  # noqa: E402

from distillguard.core.decision import Action  # noqa: E402
from distillguard.gateway.config import load_gateway_config  # noqa: E402
from distillguard.gateway.litellm_guardrail import DistillguardGuardrail  # noqa: E402
from distillguard.gateway.summarize import ExtractiveSummarizer  # noqa: E402

SUMMARY = ExtractiveSummarizer().summarize(REASONING)


async def _through(guardrail: DistillguardGuardrail, base: str, user: str, stream: bool) -> tuple[str, str | None]:
    """One call the way the LiteLLM proxy makes it: pre-call hook, real completion, post-call hooks."""
    key = UserAPIKeyAuth(user_id=user, api_key="sk-test-123")
    data = await guardrail.async_pre_call_hook(key, None, {"model": "openai/atlas-2-fast", "stream": stream,
                                                           "messages": [{"role": "user", "content": "sum?"}]},
                                               "completion")
    kwargs = {k: v for k, v in data.items() if k != "metadata"}
    response = await litellm.acompletion(api_base=base + "/v1", api_key="sk-test-123", **kwargs)
    if not stream:
        out = await guardrail.async_post_call_success_hook(data, key, response)
        message = out.choices[0].message
        return message.content, getattr(message, "reasoning_content", None)
    text, reasoning = [], []
    async for chunk in guardrail.async_post_call_streaming_iterator_hook(key, response, data):
        delta = chunk.choices[0].delta
        text.append(delta.content or "")
        reasoning.append(getattr(delta, "reasoning_content", None) or "")
    return "".join(text), "".join(reasoning).strip() or None  # the scripted stream sends words with a space


@pytest.mark.parametrize("stream", [False, True])
def test_litellm_guardrail_degrades_flagged_accounts_only(upstream, tmp_path, stream: bool) -> None:
    config = load_gateway_config(None, learn_in="thread", exchange_log=tmp_path / "log.jsonl")
    guardrail = DistillguardGuardrail(config=config, guardrail_name="distillguard")

    async def go() -> None:
        await guardrail._ensure_started()
        await guardrail.engine.set_override("acct-strip", Action.STRIP_REASONING, "test")
        await guardrail.engine.set_override("acct-sum", Action.SUMMARIZE_REASONING, "test")
        await guardrail.engine.set_override("acct-block", Action.BLOCK, "test")
        assert await _through(guardrail, upstream[0], "acct-ok", stream) == (ANSWER, REASONING)
        assert await _through(guardrail, upstream[0], "acct-strip", stream) == (ANSWER, None)
        assert await _through(guardrail, upstream[0], "acct-sum", stream) == (ANSWER, SUMMARY)
        with pytest.raises(ProxyException) as refused:
            await _through(guardrail, upstream[0], "acct-block", stream)
        assert refused.value.code == "403" and refused.value.openai_code == "account_blocked"
        await guardrail.engine.stop()

    asyncio.run(go())
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "sk-test-123" not in "".join(lines)
