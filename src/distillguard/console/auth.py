"""Logging in and out, and the users admins manage.

Passwords are kept as argon2id hashes only. A failed login costs the same
whatever failed (no such user, disabled, wrong password: one argon2
verification each) and says the same thing, so names cannot be told apart;
failures count per name and per client address in a sliding window, and a
name or address with too many is refused (429) until the window moves on,
even with the right password.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from distillguard.console.audit import record
from distillguard.console.db import db
from distillguard.console.security import (
    SESSION_KEY,
    Role,
    Sessions,
    User,
    require,
    safe_next,
    session_of,
    templates,
)
from distillguard.store.console import ConsoleUser, add_user, get_user, list_users, update_user

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone: verified for names that have none")
FAILED = "wrong name or password"


def checked_name(name: str) -> str:
    """``name`` if it is a valid user name (1-64 of letters, digits, ``_ . @ -``); ValueError otherwise."""
    if not _NAME.match(name):
        raise ValueError(f"name: {name!r} must be 1-64 letters, digits or _ . @ -")
    return name


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``; ValueError if it is shorter than :data:`MIN_PASSWORD_CHARS`."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(f"password: {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters needed")
    return _hasher.hash(password)


def new_user(name: str, password: str, role: str) -> ConsoleUser:
    """A user record to store: name and role checked, password hashed (ValueError naming the bad field)."""
    return ConsoleUser(checked_name(name), hash_password(password), Role.parse(role).label, datetime.now(UTC), False)


def password_matches(user: ConsoleUser | None, password: str) -> bool:
    """Whether ``user`` exists, is enabled and has this password; one argon2 verification in every case."""
    try:
        if user is None or user.disabled:
            _hasher.verify(_DUMMY_HASH, password)
            return False
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class LoginThrottle:
    """Failed logins per key (a name, a client address) in a sliding window, for a bounded number of keys."""

    max_failures: int
    window_s: float
    max_keys: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def wait_s(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        times = self._recent(key)
        if times is None or len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[-self.max_failures] + self.window_s - self.clock())

    def fail(self, key: str) -> None:
        """Count one failure of ``key``."""
        times = self._recent(key)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.max_failures)
        times.append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self.clock() - self.window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


@dataclass(frozen=True)
class LoginLimits:
    """How many failed logins a name and a client address may have in ``window_s``."""

    per_name: int = 5
    per_address: int = 20
    window_s: float = 15 * 60


def _login_form(request: Request, status: int = 200, error: str | None = None,
                headers: dict[str, str] | None = None) -> Response:
    target = safe_next(request.query_params.get("next"))
    return templates.TemplateResponse(request, "login.html", {"error": error, "next": target},
                                      status_code=status, headers=headers)


async def login_page(request: Request) -> Response:
    """``GET /login``: the login form."""
    return _login_form(request)


async def login(request: Request) -> Response:
    """``POST /login``: start a new session for a right name and password (fields ``name``, ``password``)."""
    form = await request.form()
    name, password = str(form.get("name", ""))[:100], str(form.get("password", ""))[:MAX_PASSWORD_CHARS]
    by_name: LoginThrottle = request.app.state.throttle_name
    by_address: LoginThrottle = request.app.state.throttle_address
    address = request.client.host if request.client else "unknown"
    wait = max(by_name.wait_s(name.casefold()), by_address.wait_s(address))
    if wait > 0:
        minutes = max(1, round(wait / 60))
        return _login_form(request, 429, f"too many failed logins: try again in {minutes} min",
                           {"retry-after": str(int(wait) + 1)})
    stored = await db(request).read(lambda store: get_user(store, name)) if _NAME.match(name) else None
    if not await run_in_threadpool(password_matches, stored, password) or stored is None:
        by_name.fail(name.casefold())
        by_address.fail(address)
        return _login_form(request, 401, FAILED)
    by_name.clear(name.casefold())
    sessions: Sessions = request.app.state.sessions
    if (old := session_of(request)) is not None:
        sessions.drop(old.sid)
    session = sessions.create(User(stored.name, Role.parse(stored.role)))
    request.session.clear()
    request.session[SESSION_KEY] = session.sid
    return RedirectResponse(safe_next(str(form.get("next", "/"))), 303)


async def logout(request: Request) -> Response:
    """``POST /logout``: end the session."""
    if (session := session_of(request)) is not None:
        sessions: Sessions = request.app.state.sessions
        sessions.drop(session.sid)
    request.session.clear()
    return RedirectResponse("/login", 303)


async def _users_page(request: Request, status: int = 200, error: str | None = None,
                      notice: str | None = None) -> Response:
    users = await db(request).read(list_users)
    return templates.TemplateResponse(request, "users.html", {
        "users": users, "roles": [r.label for r in Role], "error": error, "notice": notice}, status_code=status)


async def users(request: Request) -> Response:
    """``GET /users``: the console users (admins)."""
    require(request, Role.ADMIN)
    return await _users_page(request)


async def add(request: Request) -> Response:
    """``POST /users``: add a user (fields ``name``, ``role``, ``password``; admins)."""
    require(request, Role.ADMIN)
    form = await request.form()
    try:
        user = await run_in_threadpool(new_user, str(form.get("name", "")), str(form.get("password", "")),
                                       str(form.get("role", "")))
    except ValueError as exc:
        return await _users_page(request, 422, str(exc))
    if not await db(request).write(lambda store: add_user(store, user)):
        return await _users_page(request, 409, f"a user named {user.name!r} exists already")
    await record(request, "user.add", f"user:{user.name}", None, {"role": user.role})
    return await _users_page(request, notice=f"added {user.name} ({user.role})")


async def change(request: Request) -> Response:
    """``POST /users/{name}``: change a user's role, disable / enable them or set their password (fields ``role``,
    ``disabled``, ``password``); their sessions end. Admins, on users other than themselves."""
    admin = require(request, Role.ADMIN)
    name = request.path_params["name"]
    form = await request.form()
    if name == admin.name:
        return await _users_page(request, 422, "you cannot change your own account here")
    try:
        role = Role.parse(str(form["role"])).label if "role" in form else None
        password = None if "password" not in form else await run_in_threadpool(hash_password, str(form["password"]))
    except ValueError as exc:
        return await _users_page(request, 422, str(exc))
    disabled = None if "disabled" not in form else str(form["disabled"]) in ("1", "true", "on")
    if not await db(request).write(lambda store: update_user(store, name, role=role, disabled=disabled,
                                                             password_hash=password)):
        return await _users_page(request, 404, f"no user named {name!r}")
    sessions: Sessions = request.app.state.sessions
    sessions.drop_user(name)
    await record(request, "user.change", f"user:{name}", None,
                 {"role": role, "disabled": disabled, "password": "set" if password else None})
    return await _users_page(request, notice=f"changed {name}")


def auth_routes() -> list[Route]:
    """Login, logout and user management."""
    return [
        Route("/login", login_page, methods=["GET"], name="login"),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route("/users", users, methods=["GET"], name="users"),
        Route("/users", add, methods=["POST"]),
        Route("/users/{name}", change, methods=["POST"], name="user"),
    ]
