"""The console's audit log: every action, undo, reveal and user change, who did it, when and why; its page.

The actor is a keyed hash of the user name (``console:`` and 16 hex digits,
keyed with the console's secret), the same string the overrides carry; the
page shows the names of the users it knows back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from distillguard.console.db import db
from distillguard.console.security import Role, current_user, require, templates
from distillguard.core.ids import keyed_hash
from distillguard.store import Store
from distillguard.store.console import AuditEntry, audit_page, list_users, record_audit, undone_actions

PAGE_SIZE = 50


def actor_id(name: str, key: bytes) -> str:
    """The audit's name for console user ``name``: a keyed hash, never the name itself."""
    return "console:" + keyed_hash(name, key)[:16]


def actor_of(request: Request) -> str:
    """The audit's name for the logged-in user."""
    key: bytes = request.app.state.actor_key
    return actor_id(current_user(request).name, key)


async def record(request: Request, what: str, target: str, reason: str | None = None,
                 detail: dict[str, Any] | None = None) -> int:
    """Append an audit entry by the logged-in user (``what`` e.g. ``reveal``, ``target`` e.g. ``exchange:123``);
    its sequence number."""
    actor = actor_of(request)
    now = datetime.now(UTC)
    return await db(request).write(lambda store: record_audit(store, now, actor, what, target, reason, detail))


async def audit_log(request: Request) -> Response:
    """``GET /audit?page=N``: the audit log, newest first, :data:`PAGE_SIZE` entries a page (analysts and admins)."""
    require(request, Role.ANALYST)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    key: bytes = request.app.state.actor_key

    def read(store: Store) -> tuple[int, list[AuditEntry], dict[int, int], dict[str, str]]:
        total, entries = audit_page(store, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        undone = undone_actions(store, [e.seq for e in entries if e.what == "action"])
        names = {actor_id(u.name, key): u.name for u in list_users(store)}
        return total, entries, undone, names

    total, entries, undone, names = await db(request).read(read)
    pages = max(1, -(-total // PAGE_SIZE))
    return templates.TemplateResponse(request, "audit.html", {
        "entries": entries, "undone": undone, "names": names, "page": page, "pages": pages, "total": total})


def audit_routes() -> list[Route]:
    """The audit log page."""
    return [Route("/audit", audit_log, methods=["GET"], name="audit")]
