"""The admin API: look up an account, override its action. Bearer token from ``DISTILLGUARD_ADMIN_TOKEN``.

Every admin request is refused while the variable is unset; the token is
compared in constant time. An override is stored with its audit entry: the
actor is a keyed hash of the token (never the token), with the time, the
action and the ``reason`` the body gives.
"""

from __future__ import annotations

import hmac
import os
import re

import orjson

from distillguard.core.decision import Action
from distillguard.core.errors import StoreError
from distillguard.gateway.engine import Engine
from distillguard.gateway.middleware import BodyTooLarge, Receive, Scope, Send, read_body, send_json
from distillguard.gateway.secret import keyed_hash
from distillguard.store.online import OnlineStateError

TOKEN_ENV = "DISTILLGUARD_ADMIN_TOKEN"
_ACCOUNT = re.compile(r"^/admin/accounts/([^/]+)$")
_ACTION = re.compile(r"^/admin/accounts/([^/]+)/action$")
MAX_REASON_CHARS = 2000
_ACTIONS = frozenset(a.value for a in Action)


def _error(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message}})


def bearer(scope: Scope) -> bytes:
    """The request's bearer token (empty when none)."""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
            return bytes(value[7:].strip())
    return b""


def authorized(scope: Scope) -> tuple[bool, int, str]:
    """(ok, status, message) of the request's bearer token against the configured one."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        return False, 403, f"the admin API is disabled: {TOKEN_ENV} is not set"
    if not hmac.compare_digest(bearer(scope), token.encode()):
        return False, 401, "missing or wrong bearer token"
    return True, 200, ""


class AdminApp:
    """``GET /admin/accounts/{id}``, ``PUT`` / ``DELETE /admin/accounts/{id}/action``, ``POST /admin/reload``,
    ``GET /admin/status``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ok, status, message = authorized(scope)
        if not ok:
            await send_json(send, status, _error(message), [(b"www-authenticate", b"Bearer")] if status == 401 else [])
            return
        path, method = scope["path"], scope["method"]
        try:
            if (match := _ACCOUNT.match(path)) and method == "GET":
                await send_json(send, 200, orjson.dumps(await self._state(match.group(1))))
            elif (match := _ACTION.match(path)) and method in ("PUT", "DELETE"):
                await self._action(match.group(1), method, self._actor(scope), receive, send)
            elif path == "/admin/status" and method == "GET":
                await send_json(send, 200, orjson.dumps(self.engine.status()))
            elif path == "/admin/reload" and method == "POST":
                await self.engine.reload()
                await send_json(send, 200, orjson.dumps({"run_id": self.engine.batch.run_id,
                                                         "store_ok": self.engine.store_ok}))
            else:
                await send_json(send, 404, _error(f"no admin route {method} {path}"))
        except (OnlineStateError, StoreError) as exc:
            await send_json(send, 503, _error(str(exc)))

    def _actor(self, scope: Scope) -> str:
        """Who acts: a keyed hash of the admin token (the token itself is never kept)."""
        secret = self.engine.secret
        if secret is None:
            raise RuntimeError("engine not started: no secret key loaded")
        return "admin-token:" + keyed_hash(secret, "admin_token", bearer(scope).decode("latin-1"))[:16]

    async def _state(self, account: str) -> dict[str, object]:
        state = await self.engine.account_state(account)
        state["override_history"] = await self.engine.override_history(account)
        return state

    async def _action(self, account: str, method: str, actor: str, receive: Receive, send: Send) -> None:
        try:
            raw = await read_body(receive, 64 * 1024)
            doc = orjson.loads(raw) if raw or method == "PUT" else {}  # DELETE: the body (a reason) is optional
        except (orjson.JSONDecodeError, BodyTooLarge):
            doc = None
        if not isinstance(doc, dict):
            await send_json(send, 400, _error("body: expected a JSON object such as "
                                              "{\"action\": \"block\", \"reason\": \"...\"}"))
            return
        reason = doc.get("reason")
        if reason is not None and not (isinstance(reason, str) and len(reason) <= MAX_REASON_CHARS):
            await send_json(send, 422, orjson.dumps({"error": {
                "message": f"reason: expected a string of at most {MAX_REASON_CHARS} characters", "field": "reason"}}))
            return
        action: Action | None = None
        if method == "PUT":
            name = doc.get("action")
            if not isinstance(name, str) or name not in _ACTIONS:
                await send_json(send, 422, orjson.dumps({"error": {
                    "message": f"action: {name!r} is not one of {[a.value for a in Action]}", "field": "action"}}))
                return
            action = Action(name)
        await self.engine.set_override(account, action, actor, reason)
        await send_json(send, 200, orjson.dumps(await self._state(account)))
