"""The analysts' console as one Starlette app: ``create_app(store_path, secret=...)``.

Every route needs a login except ``/login`` and ``/static/`` (see
:mod:`distillguard.console.security`). The secret signs the session cookie
and keys the audit's actor hashes: :func:`console_secret` takes it from
``DISTILLGUARD_CONSOLE_SECRET``, else generates one on first start and keeps
it in the store.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from distillguard.console.actions import action_routes
from distillguard.console.audit import audit_routes
from distillguard.console.auth import LoginLimits, LoginThrottle, auth_routes
from distillguard.console.db import ConsoleDb
from distillguard.console.exports import IntelExport, export_routes
from distillguard.console.pages import page_routes
from distillguard.console.security import STATIC_DIR, ConsoleGuard, LoginRequired, Sessions, templates
from distillguard.core.errors import ConfigError, StoreError
from distillguard.store import Store
from distillguard.store.console import kept_setting

SECRET_ENV = "DISTILLGUARD_CONSOLE_SECRET"
MIN_SECRET_CHARS = 32
SESSION_COOKIE = "distillguard_console"


def console_secret(store: Store) -> str:
    """``DISTILLGUARD_CONSOLE_SECRET``, else the secret kept in the store (generated on first call)."""
    value = os.environ.get(SECRET_ENV, "").strip() or kept_setting(store, "secret", secrets.token_hex(32))
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(f"{SECRET_ENV}: the console's secret must be at least {MIN_SECRET_CHARS} characters")
    return value


def create_app(store_path: Path, *, secret: str, https_only: bool = False, sessions: Sessions | None = None,
               limits: LoginLimits | None = None, busy_timeout_s: float = 10.0,
               intel_export: IntelExport | None = None) -> Starlette:
    """The console over the store at ``store_path`` (migrated already), its cookie signed with ``secret``.

    ``https_only`` marks the cookie Secure (set it behind TLS); ``sessions`` and ``limits`` set the session
    lifetimes and the login limits (defaults otherwise); ``intel_export`` lets analysts export campaigns as
    intel (None: they cannot).
    """
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"the console's secret must be at least {MIN_SECRET_CHARS} characters")
    sessions = sessions or Sessions()
    limits = limits or LoginLimits()
    routes: list[BaseRoute] = [
        *auth_routes(), *action_routes(), *export_routes(), *audit_routes(), *page_routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=int(sessions.lifetime_s), same_site="strict", https_only=https_only),
            Middleware(ConsoleGuard, sessions=sessions),
        ],
        exception_handlers={LoginRequired: _login_required, HTTPException: _http_error, StoreError: _store_error},
    )
    app.state.db = ConsoleDb(store_path, busy_timeout_s)
    app.state.sessions = sessions
    app.state.actor_key = secret.encode()
    app.state.intel_export = intel_export
    app.state.throttle_name = LoginThrottle(limits.per_name, limits.window_s)
    app.state.throttle_address = LoginThrottle(limits.per_address, limits.window_s)
    return app


async def _login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", 303)


async def _http_error(request: Request, exc: Exception) -> Response:
    status, detail = (exc.status_code, exc.detail) if isinstance(exc, HTTPException) else (500, "error")
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": detail},
                                      status_code=status)


async def _store_error(request: Request, exc: Exception) -> Response:
    return templates.TemplateResponse(request, "error.html", {"status": 503, "message": str(exc)}, status_code=503)
