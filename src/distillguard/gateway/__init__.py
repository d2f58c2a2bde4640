"""Inline response: the ASGI proxy and middleware that apply policy actions to live traffic.

:class:`GatewayApp` is the reverse proxy (``distillguard gateway``);
:class:`~distillguard.gateway.adapters.DistillguardMiddleware` the same logic
inside another ASGI server (vLLM ``--middleware``);
:mod:`distillguard.gateway.litellm_guardrail` a LiteLLM guardrail (optional
``litellm`` extra). :mod:`~distillguard.gateway.reasoning` holds the pure
reasoning transforms of the three APIs.
"""

from distillguard.gateway.app import GatewayApp, build_gateway
from distillguard.gateway.config import GatewayConfig, load_gateway_config

__all__ = ["GatewayApp", "GatewayConfig", "build_gateway", "load_gateway_config"]
