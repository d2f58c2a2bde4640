"""Who may do what in the console: users and roles, server-side sessions, CSRF, the guard of every route.

The session cookie (Starlette's signed ``SessionMiddleware``: HttpOnly,
SameSite=Strict) holds only a random session id; what it maps to (the user,
their role, the CSRF token, the times) stays in this process, in
:class:`Sessions`, and expires after an idle and an absolute lifetime. A
login always starts a new session id (no fixation). :class:`ConsoleGuard`
wraps the whole app: every route but ``/login`` and ``/static/`` needs a
session, every unsafe request a CSRF token bound to the session (form field
``csrf_token`` or header ``X-CSRF-Token``), and every answer carries the
security headers (CSP without inline scripts, no framing, no caching of pages).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distillguard.core.decision import Action

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SESSION_KEY = "sid"
ANON_CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PUBLIC_PATHS = frozenset({"/login"})
PUBLIC_PREFIXES = ("/static/",)
MAX_FORM_BYTES = 1 << 20
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class Role(IntEnum):
    """A console role; each can do what the ones below it can: viewers read, analysts act, admins manage users."""

    VIEWER = 1
    ANALYST = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The role's name as stored and shown (``viewer``, ``analyst``, ``admin``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role named ``name``; ValueError naming the roles for any other."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"role: {name!r} is not one of {', '.join(r.label for r in cls)}") from None


@dataclass(frozen=True, slots=True)
class User:
    """A logged-in console user."""

    name: str
    role: Role

    def can(self, role: Role) -> bool:
        """Whether the user holds ``role`` or a higher one."""
        return self.role >= role


@dataclass(slots=True)
class Session:
    """A server-side session: its id (the cookie's content), user, CSRF token, start and last use (monotonic s)."""

    sid: str
    user: User
    csrf: str
    started: float
    seen: float


@dataclass
class Sessions:
    """The live sessions of this process: bounded (oldest dropped first), expiring when idle or too old."""

    idle_s: float = 30 * 60
    lifetime_s: float = 12 * 3600
    max_sessions: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _live: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def create(self, user: User) -> Session:
        """A new session of ``user``, with fresh random id and CSRF token."""
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        self._live[session.sid] = session
        while len(self._live) > self.max_sessions:
            self._live.popitem(last=False)
        return session

    def get(self, sid: object) -> Session | None:
        """The live session of id ``sid`` (its use noted), or None; an expired one is dropped."""
        if not isinstance(sid, str):
            return None
        session = self._live.get(sid)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle_s or now - session.started > self.lifetime_s:
            del self._live[sid]
            return None
        session.seen = now
        self._live.move_to_end(sid)
        return session

    def drop(self, sid: str) -> None:
        """End one session (idempotent)."""
        self._live.pop(sid, None)

    def drop_user(self, name: str) -> int:
        """End every session of user ``name``; how many there were."""
        ended = [sid for sid, s in self._live.items() if s.user.name == name]
        for sid in ended:
            del self._live[sid]
        return len(ended)


class LoginRequired(Exception):
    """The request has no live session: the app answers with the login page (or 401 to htmx)."""


def session_of(request: HTTPConnection) -> Session | None:
    """The request's live session, as :class:`ConsoleGuard` found it."""
    found: Session | None = request.scope.get("console_session")
    return found


def current_user(request: HTTPConnection) -> User:
    """The logged-in user; LoginRequired when there is none."""
    session = session_of(request)
    if session is None:
        raise LoginRequired
    return session.user


def require(request: HTTPConnection, role: Role) -> User:
    """The logged-in user if they hold ``role`` or a higher one; 403 otherwise (LoginRequired without a login)."""
    user = current_user(request)
    if not user.can(role):
        raise HTTPException(403, f"this needs the {role.label} role (you are {user.role.label})")
    return user


def csrf_token(request: HTTPConnection) -> str:
    """The CSRF token forms of this request carry: the session's, or before login one kept in the signed cookie."""
    session = session_of(request)
    if session is not None:
        return session.csrf
    token = request.session.get(ANON_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[ANON_CSRF_KEY] = token
    return token


def user_or_none(request: HTTPConnection) -> User | None:
    """The logged-in user, or None (for templates)."""
    session = session_of(request)
    return None if session is None else session.user


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path of this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True))
"""The console's templates (``console/templates/``), autoescaped; globals ``csrf_token(request)``, ``user(request)``
(None before login), ``Role``, ``actions`` (the policy's action names, mildest first)."""
templates.env.globals.update(csrf_token=csrf_token, user=user_or_none, Role=Role, actions=[a.value for a in Action])


class ConsoleGuard:
    """Pure ASGI guard around the console (inside the session middleware): login, CSRF, security headers."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        cookie = scope.get("session", {})
        session = self.sessions.get(cookie.get(SESSION_KEY))
        scope["console_session"] = session
        static = path.startswith(PUBLIC_PREFIXES)
        send = _with_headers(send, static)
        if session is None and not static and path not in PUBLIC_PATHS:
            await _login_required(scope, send)
            return
        if scope["method"] not in _SAFE_METHODS:
            expected = session.csrf if session is not None else cookie.get(ANON_CSRF_KEY)
            ok, receive = await _csrf_checked(scope, receive, expected)
            if not ok:
                await _plain(send, 403, "missing or wrong CSRF token: reload the page and try again")
                return
        await self.app(scope, receive, send)


def _with_headers(send: Send, static: bool) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS:
                headers[name.decode()] = value.decode()
            if not static:
                headers["cache-control"] = "no-store"
        await send(message)
    return sending


async def _login_required(scope: Scope, send: Send) -> None:
    headers = dict(scope["headers"])
    if scope["method"] in ("GET", "HEAD") and b"hx-request" not in headers:
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + (f"?{query}" if query else "")
        await _plain(send, 303, "log in first", [(b"location", f"/login?next={quote(target, safe='')}".encode())])
    else:
        await _plain(send, 401, "log in first", [(b"hx-redirect", b"/login")])


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _csrf_checked(scope: Scope, receive: Receive, expected: Any) -> tuple[bool, Receive]:
    """Whether the request carries ``expected`` (header, else urlencoded form field), and a receive that replays
    the body read to find it."""
    if not isinstance(expected, str) or not expected:
        return False, receive
    headers = dict(scope["headers"])
    given = headers.get(CSRF_HEADER.encode())
    if given is not None:
        return hmac.compare_digest(given, expected.encode()), receive
    if not headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
        return False, receive
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return False, receive
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return False, receive
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    try:
        fields = parse_qs(body.decode("latin-1"), max_num_fields=1000).get(CSRF_FIELD, [])
    except ValueError:  # too many fields
        return False, receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return len(fields) == 1 and hmac.compare_digest(fields[0].encode("latin-1"), expected.encode()), replay
