"""The admin API: look up an account, override its action. Bearer token from ``DISTILLGUARD_ADMIN_TOKEN``.

Every admin request is refused while the variable is unset; the token is
compared in constant time.
"""

from __future__ import annotations

import hmac
import os
import re

import orjson

from distillguard.core.decision import Action
from distillguard.gateway.engine import Engine
from distillguard.gateway.middleware import BodyTooLarge, Receive, Scope, Send, read_body, send_json
from distillguard.store.online import OnlineStateError

TOKEN_ENV = "DISTILLGUARD_ADMIN_TOKEN"
_ACCOUNT = re.compile(r"^/admin/accounts/([^/]+)$")
_ACTION = re.compile(r"^/admin/accounts/([^/]+)/action$")


def _error(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message}})


def authorized(scope: Scope) -> tuple[bool, int, str]:
    """(ok, status, message) of the request's bearer token against the configured one."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        return False, 403, f"the admin API is disabled: {TOKEN_ENV} is not set"
    given = b""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
            given = value[7:].strip()
    if not hmac.compare_digest(given, token.encode()):
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
                await send_json(send, 200, orjson.dumps(await self.engine.account_state(match.group(1))))
            elif (match := _ACTION.match(path)) and method in ("PUT", "DELETE"):
                await self._action(match.group(1), method, receive, send)
            elif path == "/admin/status" and method == "GET":
                await send_json(send, 200, orjson.dumps(self.engine.status()))
            elif path == "/admin/reload" and method == "POST":
                await self.engine.reload()
                await send_json(send, 200, orjson.dumps({"run_id": self.engine.batch.run_id,
                                                         "store_ok": self.engine.store_ok}))
            else:
                await send_json(send, 404, _error(f"no admin route {method} {path}"))
        except OnlineStateError as exc:
            await send_json(send, 503, _error(str(exc)))

    async def _action(self, account: str, method: str, receive: Receive, send: Send) -> None:
        if method == "DELETE":
            await self.engine.set_override(account, None)
            await send_json(send, 200, orjson.dumps(await self.engine.account_state(account)))
            return
        try:
            doc = orjson.loads(await read_body(receive, 64 * 1024))
        except (orjson.JSONDecodeError, BodyTooLarge):
            await send_json(send, 400, _error("body: expected a JSON object such as {\"action\": \"block\"}"))
            return
        name = doc.get("action") if isinstance(doc, dict) else None
        try:
            action = Action(name)
        except ValueError:
            await send_json(send, 422, orjson.dumps({"error": {
                "message": f"action: {name!r} is not one of {[a.value for a in Action]}", "field": "action"}}))
            return
        await self.engine.set_override(account, action)
        await send_json(send, 200, orjson.dumps(await self.engine.account_state(account)))
