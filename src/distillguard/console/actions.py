"""Acting from the console: an action on an account or on every member of a campaign, with a reason; undo.

An action is a durable decision: one override per account in the store's
``overrides`` table (the one the gateway reloads), the console user as actor
(a keyed hash) and the reason, with one audit entry, in one transaction.
Analysts and admins act; viewers only read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from distillguard.console.audit import actor_of
from distillguard.console.db import db
from distillguard.console.security import Role, require, safe_next, templates
from distillguard.core.decision import Action
from distillguard.store import Store
from distillguard.store.console import apply_action, audit_entry, known_account, undo_action
from distillguard.store.results import find_campaign

MAX_REASON_CHARS = 2000
_ACTIONS = frozenset(a.value for a in Action)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reason(form: Any) -> str:
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise _Refused(422, "reason: say why (it goes into the audit log)")
    if len(reason) > MAX_REASON_CHARS:
        raise _Refused(422, f"reason: at most {MAX_REASON_CHARS} characters")
    return reason


def _action(form: Any) -> str:
    action = str(form.get("action", ""))
    if action not in _ACTIONS:
        raise _Refused(422, f"action: {action!r} is not one of {', '.join(a.value for a in Action)}")
    return action


def _answer(request: Request, form: Any, kind: str, target: str, *, status: int = 200, result: str | None = None,
            error: str | None = None, undo_seq: int | None = None) -> Response:
    """The action form again with the result (htmx); else the error page, or back to the page the form was on."""
    back = safe_next(str(form.get("next", "")), "/audit")
    if request.headers.get("hx-request"):
        return templates.TemplateResponse(request, "_action_form.html", {
            "target_kind": kind, "target_id": target, "action_result": result, "action_error": error,
            "undo_seq": undo_seq, "action_next": back}, status_code=status)
    if error is not None:
        return templates.TemplateResponse(request, "error.html", {"status": status, "message": error},
                                          status_code=status)
    return RedirectResponse(back, 303)


async def _act(request: Request, kind: str, target: str, members: Any) -> Response:
    require(request, Role.ANALYST)
    form = await request.form()
    try:
        action, reason = _action(form), _reason(form)
        found: tuple[list[str], dict[str, Any]] | None = await db(request).read(members)
        if found is None:
            raise _Refused(404, f"no {kind} {target!r} in the store")
    except _Refused as refused:
        return _answer(request, form, kind, target, status=refused.status, error=refused.message)
    accounts, detail = found
    actor, now = actor_of(request), datetime.now(UTC)
    applied = await db(request).write(lambda store: apply_action(
        store, accounts, action, actor=actor, reason=reason, at=now, target=f"{kind}:{target}", detail=detail))
    many = f"{applied.n_accounts:,} accounts" if applied.n_accounts != 1 else "1 account"
    return _answer(request, form, kind, target, result=f"{action} applied to {many} (audit #{applied.audit_seq})",
                   undo_seq=applied.audit_seq)


async def act_on_account(request: Request) -> Response:
    """``POST /actions/account/{id}``: override one account (fields ``action``, ``reason``)."""
    account = request.path_params["account_id"]

    def members(store: Store) -> tuple[list[str], dict[str, Any]] | None:
        return ([account], {"account": account}) if known_account(store, account) else None

    return await _act(request, "account", account, members)


async def act_on_campaign(request: Request) -> Response:
    """``POST /actions/campaign/{id}``: override every member of the campaign, as the newest run holding it
    saw it (fields ``action``, ``reason``)."""
    campaign = request.path_params["campaign_id"]

    def members(store: Store) -> tuple[list[str], dict[str, Any]] | None:
        found = find_campaign(store, campaign)
        if found is None:
            return None
        run_id, record = found
        return list(dict.fromkeys(record.accounts)), {"campaign": campaign, "run_id": run_id}

    return await _act(request, "campaign", campaign, members)


async def undo(request: Request) -> Response:
    """``POST /actions/{seq}/undo``: undo the action of audit entry ``seq`` (field ``reason``)."""
    require(request, Role.ANALYST)
    seq: int = request.path_params["seq"]
    form = await request.form()
    entry = await db(request).read(lambda store: audit_entry(store, seq))
    kind, _, target = (entry.target if entry is not None else "action:").partition(":")
    try:
        reason = _reason(form)
        if entry is None or entry.what != "action":
            raise _Refused(404, f"no action #{seq} in the audit log")
        actor, now = actor_of(request), datetime.now(UTC)
        undone = await db(request).write(lambda store: undo_action(store, entry, actor=actor, reason=reason, at=now))
        if undone is None:
            raise _Refused(409, f"action #{seq} was undone already")
    except _Refused as refused:
        return _answer(request, form, kind, target, status=refused.status, error=refused.message)
    changed = f"; {undone.skipped:,} changed since, left as they are" if undone.skipped else ""
    return _answer(request, form, kind, target,
                   result=f"action #{seq} undone: {undone.restored:,} restored{changed} (audit #{undone.audit_seq})")


def action_routes() -> list[Route]:
    """Acting on accounts and campaigns, and undoing."""
    return [
        Route("/actions/{seq:int}/undo", undo, methods=["POST"], name="undo"),
        Route("/actions/account/{account_id:path}", act_on_account, methods=["POST"], name="act_on_account"),
        Route("/actions/campaign/{campaign_id:path}", act_on_campaign, methods=["POST"], name="act_on_campaign"),
    ]
