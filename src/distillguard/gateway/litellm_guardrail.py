"""The gateway's logic as a LiteLLM proxy guardrail (``pip install distillguard[litellm]``).

LiteLLM loads a guardrail class from a Python file beside its config, so put one there,
``dg_guardrail.py``, holding ``from distillguard.gateway.litellm_guardrail import DistillguardGuardrail``,
and in the LiteLLM proxy config::

    guardrails:
      - guardrail_name: distillguard
        litellm_params:
          guardrail: dg_guardrail.DistillguardGuardrail
          mode: [pre_call, post_call]
          default_on: true

Settings come from ``DISTILLGUARD_GATEWAY_CONFIG`` (see
:mod:`distillguard.gateway.adapters`). The account is the key's ``user_id``
(``account_field`` names another attribute of the key, e.g. ``team_id``); the
key id is LiteLLM's hashed ``token``, never the key. LiteLLM hands every API
as Chat Completions objects, so reasoning is ``reasoning_content`` and
``thinking_blocks`` of messages and stream deltas.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.proxy._types import UserAPIKeyAuth

from distillguard.core.decision import Action
from distillguard.gateway.adapters import config_from_env
from distillguard.gateway.app import build_engine
from distillguard.gateway.config import GatewayConfig
from distillguard.gateway.engine import UNIDENTIFIED, Admission, Engine, Observed
from distillguard.gateway.summarize import ExtractiveSummarizer, Summarizer

_ENDPOINT = "/v1/chat/completions"
_KEY = "distillguard"
_REASONING_ATTRS = ("reasoning_content", "thinking_blocks")


class DistillguardGuardrail(CustomGuardrail):
    """Pre-call: decide, refuse (429 / 403 / 503). Post-call and streaming: strip or summarise reasoning, log."""

    def __init__(self, config: GatewayConfig | None = None, engine: Engine | None = None,
                 summarizer: Summarizer | None = None, account_field: str = "user_id", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        settings = config or config_from_env()
        self.engine = engine or build_engine(settings)
        self.summarizer = summarizer or ExtractiveSummarizer(settings.summary_max_chars)
        self.account_field = account_field
        self._started: asyncio.Task[None] | None = None

    async def _ensure_started(self) -> None:
        if self._started is None:
            self._started = asyncio.ensure_future(self.engine.start())
        await asyncio.shield(self._started)

    async def async_pre_call_hook(self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict,
                                  call_type: Any) -> dict:
        """Decide for this request; raise a :class:`Refusal` the proxy turns into the HTTP error."""
        await self._ensure_started()
        account = getattr(user_api_key_dict, self.account_field, None) or None
        key_id = user_api_key_dict.token
        model = data.get("model") if isinstance(data.get("model"), str) else None
        admission = await self.engine.admit(account, model)
        request = orjson.dumps({k: v for k, v in data.items() if k in ("model", "messages", "stream", "tools",
                                                                         "reasoning_effort", "thinking")},
                               default=str)
        observed = Observed(int(time.time() * 1000), account or UNIDENTIFIED, key_id, "0.0.0.0", None, _ENDPOINT,
                            request, admission, stream=bool(data.get("stream")))
        data.setdefault("metadata", {})[_KEY] = observed
        if admission.status is not None:
            self.engine.observe(observed)
            raise Refusal(admission)
        return data

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict: UserAPIKeyAuth,
                                           response: Any) -> Any:
        """Degrade a whole response in place and log the exchange."""
        observed = (data.get("metadata") or {}).get(_KEY)
        if not isinstance(observed, Observed) or observed.stream:  # a stream is degraded and logged as it goes
            return response
        observed.status = 200
        observed.response += orjson.dumps(response.model_dump(), default=str)
        self.engine.observe(observed)
        action = observed.admission.degrade
        for choice in getattr(response, "choices", None) or ():
            message = getattr(choice, "message", None)
            if message is not None and action is not None:
                self._degrade(message, action, getattr(message, "reasoning_content", None))
        return response

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict: UserAPIKeyAuth, response: Any,
                                                      request_data: dict) -> AsyncGenerator[Any, None]:
        """Degrade a stream chunk by chunk (a summary goes out before the first answer chunk) and log it."""
        observed = (request_data.get("metadata") or {}).get(_KEY)
        action = observed.admission.degrade if isinstance(observed, Observed) else None
        held: list[str] = []
        last_reasoning: Any = None
        async for chunk in response:
            if isinstance(observed, Observed):
                observed.response += b"data: " + orjson.dumps(chunk.model_dump(), default=str) + b"\n\n"
            if action is None:
                yield chunk
                continue
            delta = chunk.choices[0].delta if getattr(chunk, "choices", None) else None
            text = getattr(delta, "reasoning_content", None) if delta is not None else None
            if text:
                held.append(text)
                last_reasoning = copy.deepcopy(chunk)
                self._degrade(delta, Action.STRIP_REASONING, None)
                if not (getattr(delta, "content", None) or getattr(delta, "tool_calls", None)
                        or chunk.choices[0].finish_reason):
                    continue
            if held and action is Action.SUMMARIZE_REASONING and last_reasoning is not None:
                summary = last_reasoning
                self._degrade(summary.choices[0].delta, action, "".join(held))
                held = []
                yield summary
            yield chunk
        if held and action is Action.SUMMARIZE_REASONING and last_reasoning is not None:
            self._degrade(last_reasoning.choices[0].delta, action, "".join(held))
            yield last_reasoning
        if isinstance(observed, Observed):
            observed.status = 200
            self.engine.observe(observed)

    def _degrade(self, message: Any, action: Action, reasoning: str | None) -> None:
        summary = self.summarizer.summarize(reasoning) if action is Action.SUMMARIZE_REASONING and reasoning else None
        for attr in _REASONING_ATTRS:
            if hasattr(message, attr):
                setattr(message, attr, None)
        if summary:
            message.reasoning_content = summary


class Refusal(Exception):
    """A refused request, with the attributes the LiteLLM proxy reads from a hook's exception to answer it:
    ``status_code`` (the HTTP status), ``message``, ``type``, ``headers`` and ``provider_specific_fields``.

    A ``ProxyException`` raised from a hook would be wrapped again by the proxy as a 500. The proxy puts the
    status in the error's ``code``, so distillguard's own code (``account_blocked``, ``rate_limited``,
    ``verification_required``, ``gateway_unavailable``) goes in ``provider_specific_fields.code``, with the
    verification tier where one is asked for.
    """

    def __init__(self, admission: Admission) -> None:
        super().__init__(admission.message)
        self.message = admission.message
        self.status_code = admission.status or 403
        self.type = "distillguard"
        self.param = None
        self.code = {429: "rate_limited", 503: "gateway_unavailable"}.get(
            self.status_code, "verification_required" if admission.verdict.tier else "account_blocked")
        self.headers = {"retry-after": str(admission.retry_after)} if admission.retry_after is not None else {}
        tier = {"verification_tier": admission.verdict.tier} if admission.verdict.tier else {}
        self.provider_specific_fields = {"code": self.code, **tier}

