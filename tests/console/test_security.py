"""The console's guard: no route answers without a login, no POST without the session's CSRF token, headers,
cookies, sessions (expiry, fixation, logout), redirects."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from distillguard.console.app import SESSION_COOKIE, create_app
from distillguard.console.security import Role, Sessions, User

PASSWORD = "correct horse battery staple"
_PARAM = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")
_STATIC = "/static/vendor/htmx.min.js"


def _concrete(path: str) -> str:
    """The route's path with every parameter filled (``1`` for int parameters, ``x`` otherwise)."""
    return _PARAM.sub(lambda m: "1" if m.group(2) == "int" else "x", path)


def _endpoints(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every route of the app but the public ones, HEAD left out."""
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            found += [(method, _concrete(route.path)) for method in sorted(route.methods or ()) if method != "HEAD"]
        else:
            assert isinstance(route, Mount) and route.path == "/static", f"unexpected route {route!r}"
    return [(m, p) for m, p in found if p != "/login"]


def test_every_route_but_login_and_static_needs_a_session(console_app: Starlette, anonymous: TestClient) -> None:
    endpoints = _endpoints(console_app)
    mine = {("GET", "/audit"), ("GET", "/users"), ("POST", "/users"), ("POST", "/users/x"), ("POST", "/logout"),
            ("POST", "/actions/1/undo"), ("POST", "/actions/account/x"), ("POST", "/actions/campaign/x"),
            ("POST", "/exports/campaign/x")}
    assert mine <= set(endpoints)
    for method, path in endpoints:
        response = anonymous.request(method, path, follow_redirects=False)
        if method == "GET":
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next=")
        else:
            assert response.status_code == 401, (method, path, response.status_code)
        assert response.text == "log in first", (method, path)
    assert anonymous.get("/no/such/page", follow_redirects=False).status_code == 303  # nothing tells what exists
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get(_STATIC).status_code == 200


def test_a_forged_or_unknown_session_id_is_no_session(console_app: Starlette, secret: str) -> None:
    forged = TimestampSigner("not the console's secret").sign(b'{"sid": "x"}').decode()
    with TestClient(console_app, base_url="http://127.0.0.1", cookies={SESSION_COOKIE: forged}) as client:
        assert client.get("/audit", follow_redirects=False).status_code == 303
    unknown = TimestampSigner(secret).sign(base64.b64encode(b'{"sid": "guessed"}')).decode()
    with TestClient(console_app, base_url="http://127.0.0.1", cookies={SESSION_COOKIE: unknown}) as client:
        assert client.get("/audit", follow_redirects=False).status_code == 303


def _post_routes(app: Starlette) -> list[str]:
    return [p for m, p in _endpoints(app) if m == "POST"]


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_every_post_needs_the_sessions_csrf_token(console_app: Starlette, client_as: Callable[[str], TestClient],
                                                  token: str | None) -> None:
    admin = client_as("admin")
    data = {"action": "block", "reason": "r", "name": "x", "role": "viewer", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    for path in _post_routes(console_app):
        response = admin.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, (path, response.status_code)
        header = admin.post(path, data=data, headers={"X-CSRF-Token": token or "x"}, follow_redirects=False)
        assert header.status_code == 403, (path, header.status_code)
    assert admin.get("/audit").status_code == 200  # still logged in: the refusals changed nothing


def test_a_token_of_another_session_is_refused(client_as: Callable[[str], TestClient], csrf: Callable[..., str]) -> None:
    ana, ada = client_as("analyst"), client_as("admin")
    theirs = csrf(ada)
    response = ana.post("/actions/account/x", data={"action": "block", "reason": "r", "csrf_token": theirs})
    assert response.status_code == 403


def test_the_csrf_token_in_a_header_is_accepted(client_as: Callable[[str], TestClient], csrf: Callable[..., str]) -> None:
    ana = client_as("analyst")
    token = csrf(ana)
    response = ana.post("/actions/account/no-such-account", data={"action": "block", "reason": "r"},
                        headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert response.status_code == 404  # past the guard: the account is unknown


def test_login_itself_needs_the_token_of_the_login_form(anonymous: TestClient, log_in: Callable[..., int]) -> None:
    refused = anonymous.post("/login", data={"name": "ada", "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 403
    assert log_in(anonymous, "ada") == 303


def test_pages_carry_the_security_headers_and_are_not_cached(client_as: Callable[[str], TestClient]) -> None:
    ada = client_as("admin")
    for path in ("/login", "/audit", "/users"):
        headers = ada.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
    static = ada.get(_STATIC)
    assert static.headers["x-frame-options"] == "DENY" and "no-store" not in static.headers.get("cache-control", "")


def test_the_pages_hold_no_inline_script(client_as: Callable[[str], TestClient]) -> None:
    ada = client_as("admin")
    for path in ("/login", "/audit", "/users"):
        html = ada.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        assert "<style" not in html and " style=" not in html, path


def test_the_cookie_is_httponly_strict_and_holds_only_a_session_id(anonymous: TestClient, csrf: Callable[..., str]) -> None:
    token = csrf(anonymous)
    response = anonymous.post("/login", data={"name": "ada", "password": PASSWORD, "csrf_token": token},
                              follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert PASSWORD not in cookie and "ada" not in cookie
    assert _sid(anonymous) not in anonymous.get("/audit").text  # the session id is never on a page


def _sid(client: TestClient) -> str:
    value = client.cookies[SESSION_COOKIE]
    payload = value.split(".")[0]
    return str(json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


def test_login_starts_a_new_session_and_ends_the_old_one(console_app: Starlette, anonymous: TestClient,
                                                         log_in: Callable[..., int]) -> None:
    assert log_in(anonymous, "ana") == 303
    first, first_cookie = _sid(anonymous), anonymous.cookies[SESSION_COOKIE]
    assert log_in(anonymous, "ada") == 303
    assert _sid(anonymous) != first
    with TestClient(console_app, base_url="http://127.0.0.1", cookies={SESSION_COOKIE: first_cookie}) as replay:
        assert replay.get("/audit", follow_redirects=False).status_code == 303


def test_a_session_id_planted_before_login_is_not_kept(console_app: Starlette, anonymous: TestClient,
                                                       log_in: Callable[..., int]) -> None:
    anonymous.get("/login")
    before = anonymous.cookies.get(SESSION_COOKIE)
    assert log_in(anonymous, "ana") == 303
    assert anonymous.cookies[SESSION_COOKIE] != before
    sessions: Sessions = console_app.state.sessions
    assert sessions.get(_sid(anonymous)) is not None


def test_logout_ends_the_session(console_app: Starlette, client_as: Callable[[str], TestClient],
                                 csrf: Callable[..., str]) -> None:
    ana = client_as("analyst")
    cookie = ana.cookies[SESSION_COOKIE]
    assert ana.post("/logout", data={"csrf_token": csrf(ana)}, follow_redirects=False).status_code == 303
    assert ana.get("/audit", follow_redirects=False).status_code == 303
    with TestClient(console_app, base_url="http://127.0.0.1", cookies={SESSION_COOKIE: cookie}) as replay:
        assert replay.get("/audit", follow_redirects=False).status_code == 303


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def expiring(store_path: Path, secret: str, clock: _Clock) -> Iterator[TestClient]:
    app = create_app(store_path, secret=secret, sessions=Sessions(idle_s=60, lifetime_s=300, clock=clock))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_a_session_expires_when_idle(expiring: TestClient, clock: _Clock, log_in: Callable[..., int]) -> None:
    assert log_in(expiring, "ana") == 303
    clock.now += 59
    assert expiring.get("/audit", follow_redirects=False).status_code == 200
    clock.now += 61
    assert expiring.get("/audit", follow_redirects=False).status_code == 303


def test_a_session_expires_at_its_lifetime_even_in_use(expiring: TestClient, clock: _Clock, log_in: Callable[..., int]) -> None:
    assert log_in(expiring, "ana") == 303
    for _ in range(5):
        clock.now += 50
        assert expiring.get("/audit", follow_redirects=False).status_code == 200
    clock.now += 51
    assert expiring.get("/audit", follow_redirects=False).status_code == 303


def test_sessions_are_bounded() -> None:
    sessions = Sessions(max_sessions=3)
    made = [sessions.create(User(f"u{i}", Role.VIEWER)) for i in range(5)]
    assert [sessions.get(s.sid) is not None for s in made] == [False, False, True, True, True]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil", "evil"])
def test_login_never_redirects_off_the_site(anonymous: TestClient, target: str, csrf: Callable[..., str]) -> None:
    token = csrf(anonymous)
    response = anonymous.post("/login", data={"name": "ana", "password": PASSWORD, "csrf_token": token,
                                              "next": target}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_login_returns_to_the_page_asked_for(anonymous: TestClient, csrf: Callable[..., str]) -> None:
    page = anonymous.get("/audit?page=2")
    assert 'name="next" value="/audit?page=2"' in page.text
    token = csrf(anonymous)
    response = anonymous.post("/login", data={"name": "ana", "password": PASSWORD, "csrf_token": token,
                                              "next": "/audit?page=2"}, follow_redirects=False)
    assert response.headers["location"] == "/audit?page=2"
