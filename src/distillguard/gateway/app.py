"""The gateway as one ASGI app: admin API, signup assessment, and the guarded upstream."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from distillguard.accounts import IpIntel
from distillguard.accounts.risk import load_risk_models
from distillguard.core.errors import ConfigError, DistillguardError, RecordError
from distillguard.gateway.admin import AdminApp, authorized
from distillguard.gateway.config import GatewayConfig
from distillguard.gateway.engine import Engine
from distillguard.gateway.middleware import (
    ASGIApp,
    BodyTooLarge,
    GatewayMiddleware,
    Receive,
    Scope,
    Send,
    read_body,
    send_json,
)
from distillguard.gateway.overrides import STORE_LOCK
from distillguard.gateway.proxy import UpstreamApp, UpstreamPool
from distillguard.gateway.summarize import ExtractiveSummarizer, Summarizer
from distillguard.policy.rules import load_policy
from distillguard.policy.signup import SignupAssessor, load_signup_assessor
from distillguard.policy.signup_request import SignupRequest
from distillguard.store import Store
from distillguard.store.online import open_state

log = logging.getLogger("distillguard.gateway")


def build_engine(config: GatewayConfig) -> Engine:
    """The engine of ``config``: policy, IP lists and state validated now, nothing opened yet."""
    return Engine(config, load_policy(config.policy), open_state(config.state, max_keys=4 * config.max_accounts,
                                                                   prefix=config.state_prefix),
                  IpIntel.load(config.intel_dir), load_risk_models(config.risk_weights).account)


class GatewayApp:
    """Routes ``/admin/*`` and ``/signup/assess``; everything else goes through the middleware to ``inner``.

    With ``inner`` None the app proxies to ``config.upstream`` with its own
    upstream connection pool; otherwise it wraps ``inner`` (an existing ASGI server).
    """

    def __init__(self, config: GatewayConfig, inner: ASGIApp | None = None, engine: Engine | None = None,
                 summarizer: Summarizer | None = None) -> None:
        if inner is None and config.upstream is None:
            raise ConfigError("gateway: no upstream URL (--upstream or `upstream:` in the settings)")
        self.config = config
        self.engine = engine or build_engine(config)
        self.client: UpstreamPool | None = None
        self.owns_upstream = inner is None
        self.inner: ASGIApp = inner if inner is not None else self._forward
        self.guarded = GatewayMiddleware(self.inner, self.engine,
                                         summarizer or ExtractiveSummarizer(config.summary_max_chars))
        self.admin = AdminApp(self.engine)
        self.signup: SignupAssessor | None = None
        self._upstream: UpstreamApp | None = None
        self._started = False

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._upstream is None:
            raise RuntimeError("gateway not started")
        await self._upstream(scope, receive, send)

    async def startup(self) -> None:
        """Open the upstream client, load batch results, start the engine."""
        if self._started:
            return
        self._started = True
        if self.owns_upstream and self.config.upstream is not None:
            self.client = UpstreamPool(self.config.upstream)
            self._upstream = UpstreamApp(self.client, self.config.upstream_timeout_s)
        self.signup = await asyncio.to_thread(self._load_signup)
        await self.engine.start()
        self.engine.on_reload.append(self._refresh_signup)

    async def shutdown(self) -> None:
        """Flush the engine and close connections."""
        if not self._started:
            return
        self._started = False
        await self.engine.stop()
        if self.client is not None:
            await self.client.aclose()

    async def _refresh_signup(self) -> bool:
        """New batch results: the signup assessor learns the newly flagged accounts and signups (False: not read)."""
        signup = await asyncio.to_thread(self._load_signup)
        if signup is None:
            return False  # keep the assessor we have; the engine tries again at its next reload
        self.signup = signup
        return True

    def _load_signup(self) -> SignupAssessor | None:
        try:
            if self.config.db is not None and self.config.db.exists():
                with STORE_LOCK, Store(self.config.db, read_only=True) as store:  # not while an override is written
                    return load_signup_assessor(store, self.config.intel_dir, None)
            return load_signup_assessor(None, self.config.intel_dir, None)
        except DistillguardError as exc:
            log.warning("signup assessment unavailable: %s", exc)
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] == "http" and not self._started:
            await self.startup()  # loaded as middleware by a server whose lifespan we did not see
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/admin/"):
            await self.admin(scope, receive, send)
        elif scope["type"] == "http" and path == "/signup/assess":
            await self._assess_signup(scope, receive, send)
        else:
            await self.guarded(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.owns_upstream:
            await self.inner(scope, self._watch_lifespan(receive), send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except DistillguardError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _watch_lifespan(self, receive: Receive) -> Receive:
        async def watched() -> Any:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
            return message
        return watched

    async def _assess_signup(self, scope: Scope, receive: Receive, send: Send) -> None:
        ok, status, message = authorized(scope)
        if not ok:
            await send_json(send, status, orjson.dumps({"error": {"message": message}}))
            return
        if scope["method"] != "POST":
            await send_json(send, 405, orjson.dumps({"error": {"message": "use POST"}}), [(b"allow", b"POST")])
            return
        if self.signup is None:
            await send_json(send, 503, orjson.dumps({"error": {"message": "signup assessment is unavailable"}}))
            return
        try:
            data = orjson.loads(await read_body(receive, 64 * 1024))
            if not isinstance(data, dict):
                raise RecordError("expected a JSON object")
            request = SignupRequest.from_mapping(data, "request body")
        except (orjson.JSONDecodeError, BodyTooLarge):
            await send_json(send, 422, orjson.dumps({"error": {"message": "body: not a JSON object", "field": None}}))
            return
        except RecordError as exc:
            await send_json(send, 422, orjson.dumps({"error": {"message": str(exc), "field": exc.field}}))
            return
        assessment = await asyncio.to_thread(self.signup.assess, request)
        await send_json(send, 200, orjson.dumps(assessment.to_dict()))


def build_gateway(config: GatewayConfig) -> GatewayApp:
    """The reverse proxy of ``config`` (run it with any ASGI server)."""
    return GatewayApp(config)
