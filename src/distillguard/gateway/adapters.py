"""The gateway's logic inside other servers.

:class:`DistillguardMiddleware` is a pure ASGI middleware class for an
OpenAI-compatible server (vLLM: ``--middleware
distillguard.gateway.adapters.DistillguardMiddleware``): the server builds it
with the app only, so its settings come from the YAML file named by
``DISTILLGUARD_GATEWAY_CONFIG`` (no ``upstream``: the wrapped app answers).
With ``trusted_proxies`` set, that server must give the connection's own peer
as the client (uvicorn: ``--no-proxy-headers``); a server that takes it from
X-Forwarded-For lets a client claim a trusted proxy's address.
The LiteLLM guardrail lives in :mod:`distillguard.gateway.litellm_guardrail`.
"""

from __future__ import annotations

import os
from pathlib import Path

from distillguard.gateway.app import GatewayApp
from distillguard.gateway.config import GatewayConfig, load_gateway_config
from distillguard.gateway.middleware import ASGIApp

CONFIG_ENV = "DISTILLGUARD_GATEWAY_CONFIG"


def config_from_env() -> GatewayConfig:
    """Gateway settings from the file named by ``DISTILLGUARD_GATEWAY_CONFIG`` (defaults when unset)."""
    path = os.environ.get(CONFIG_ENV)
    return load_gateway_config(Path(path) if path else None)


class DistillguardMiddleware(GatewayApp):
    """Decides, enforces and logs in front of the wrapped app; also serves ``/admin/*``."""

    def __init__(self, app: ASGIApp, config: GatewayConfig | None = None) -> None:
        super().__init__(config or config_from_env(), inner=app)
