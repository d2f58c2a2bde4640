"""Logging in: argon2 hashes, failures that tell nothing, throttling per name and per address, roles, users
managed by admins, and the ``distillguard console`` commands (served for real on 127.0.0.1)."""

from __future__ import annotations

import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from distillguard.cli import app as cli
from distillguard.console.app import SECRET_ENV, SESSION_COOKIE, console_secret
from distillguard.console.auth import FAILED, LoginThrottle, new_user, password_matches
from distillguard.store import Store
from distillguard.store.console import get_user, list_users
from polling import wait_until
from redis_server import free_port

PASSWORD = "correct horse battery staple"


def _post_login(client: TestClient, csrf: Callable[..., str], name: str, password: str) -> Any:
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf(client)},
                       follow_redirects=False)


def test_passwords_are_kept_as_argon2id_hashes_only(store_path: Path) -> None:
    with Store(store_path, read_only=True) as store:
        users = list_users(store)
    assert {u.name for u in users} == {"vera", "ana", "ada"}
    assert all(u.password_hash.startswith("$argon2id$") and PASSWORD not in u.password_hash for u in users)


@pytest.mark.parametrize(("name", "password"), [("ana", "wrong password, long"), ("nobody", PASSWORD), ("", "")])
def test_a_failed_login_says_the_same_whatever_failed(anonymous: TestClient, csrf: Callable[..., str], name: str,
                                                     password: str) -> None:
    response = _post_login(anonymous, csrf, name, password)
    assert response.status_code == 401
    assert FAILED in response.text
    assert anonymous.get("/audit", follow_redirects=False).status_code == 303


def test_a_disabled_user_cannot_log_in(client_as: Callable[[str], TestClient], anonymous: TestClient,
                                       csrf: Callable[..., str]) -> None:
    ada, ana = client_as("admin"), client_as("analyst")
    assert ada.post("/users/ana", data={"disabled": "1", "csrf_token": csrf(ada)}).status_code == 200
    assert ana.get("/audit", follow_redirects=False).status_code == 303  # their session ended
    response = _post_login(anonymous, csrf, "ana", PASSWORD)
    assert response.status_code == 401 and FAILED in response.text
    assert ada.post("/users/ana", data={"disabled": "0", "csrf_token": csrf(ada)}).status_code == 200
    assert _post_login(anonymous, csrf, "ana", PASSWORD).status_code == 303


def test_a_failure_costs_one_argon2_verification_whether_the_user_exists_or_not() -> None:
    user = new_user("someone", PASSWORD, "viewer")

    def median_s(check: Callable[[], bool]) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            assert not check()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known = median_s(lambda: password_matches(user, "wrong password, long"))
    unknown = median_s(lambda: password_matches(None, "wrong password, long"))
    disabled = median_s(lambda: password_matches(user._replace(disabled=True), PASSWORD))
    assert known > 0.005  # a real argon2 verification, not a shortcut
    for other in (unknown, disabled):
        assert 0.5 < other / known < 2.0, (known, unknown, disabled)


def test_too_many_failures_for_a_name_lock_it_even_with_the_right_password(
        anonymous: TestClient, csrf: Callable[..., str]) -> None:
    for _ in range(3):  # the app of the tests allows 3 failures per name
        assert _post_login(anonymous, csrf, "ana", "wrong password, long").status_code == 401
    locked = _post_login(anonymous, csrf, "ana", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert anonymous.get("/audit", follow_redirects=False).status_code == 303


def test_a_name_that_does_not_exist_locks_the_same_way(anonymous: TestClient, csrf: Callable[..., str]) -> None:
    for _ in range(3):
        assert _post_login(anonymous, csrf, "nobody", "wrong password, long").status_code == 401
    assert _post_login(anonymous, csrf, "nobody", "wrong password, long").status_code == 429


def test_too_many_failures_from_an_address_lock_every_name(anonymous: TestClient, csrf: Callable[..., str]) -> None:
    for i in range(6):  # 6 per address, spread over names that each stay under their own limit
        assert _post_login(anonymous, csrf, f"guess{i}", "wrong password, long").status_code == 401
    assert _post_login(anonymous, csrf, "ada", PASSWORD).status_code == 429


def test_a_success_clears_the_failures_of_the_name(anonymous: TestClient, csrf: Callable[..., str]) -> None:
    for _ in range(2):
        assert _post_login(anonymous, csrf, "ana", "wrong password, long").status_code == 401
    assert _post_login(anonymous, csrf, "ana", PASSWORD).status_code == 303
    for _ in range(2):
        assert _post_login(anonymous, csrf, "ana", "wrong password, long").status_code == 401
    assert _post_login(anonymous, csrf, "ana", PASSWORD).status_code == 303


def test_the_throttle_forgets_failures_once_out_of_the_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window_s=60, max_keys=2, clock=lambda: now[0])
    throttle.fail("a")
    now[0] = 30
    throttle.fail("a")
    assert throttle.wait_s("a") == pytest.approx(30)
    now[0] = 61
    assert throttle.wait_s("a") == 0  # the first failure left the window
    throttle.fail("b")
    throttle.fail("c")  # bounded: the oldest key goes
    assert set(throttle._failures) == {"b", "c"}


@pytest.mark.parametrize(("role", "allowed"), [
    ("viewer", set()), ("analyst", {"/audit"}), ("admin", {"/audit", "/users"})])
def test_roles_open_the_pages_they_need(client_as: Callable[[str], TestClient], role: str, allowed: set[str]) -> None:
    client = client_as(role)
    for path in ("/audit", "/users"):
        assert client.get(path).status_code == (200 if path in allowed else 403), (role, path)


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_admins_manage_users(client_as: Callable[[str], TestClient], csrf: Callable[..., str],
                                  store_path: Path, role: str) -> None:
    client = client_as(role)
    response = client.post("/users", data={"name": "mallory", "role": "admin", "password": PASSWORD,
                                           "csrf_token": csrf(client)})
    assert response.status_code == 403
    assert client.post("/users/vera", data={"role": "admin", "csrf_token": csrf(client)}).status_code == 403
    with Store(store_path, read_only=True) as store:
        mallory, vera = get_user(store, "mallory"), get_user(store, "vera")
    assert mallory is None and vera is not None and vera.role == "viewer"


def test_an_admin_adds_a_user_who_can_then_log_in(client_as: Callable[[str], TestClient], anonymous: TestClient,
                                                  csrf: Callable[..., str]) -> None:
    ada = client_as("admin")
    added = ada.post("/users", data={"name": "newbie", "role": "analyst", "password": "a long new password",
                                     "csrf_token": csrf(ada)})
    assert added.status_code == 200 and "added newbie (analyst)" in added.text
    again = ada.post("/users", data={"name": "newbie", "role": "viewer", "password": "a long new password",
                                     "csrf_token": csrf(ada)})
    assert again.status_code == 409
    short = ada.post("/users", data={"name": "shorty", "role": "viewer", "password": "short",
                                     "csrf_token": csrf(ada)})
    assert short.status_code == 422 and "password" in short.text
    assert _post_login(anonymous, csrf, "newbie", "a long new password").status_code == 303
    assert anonymous.get("/audit").status_code == 200
    audit = ada.get("/audit").text
    assert "user.add" in audit and "user:newbie" in audit and "a long new password" not in audit


def test_a_role_change_ends_the_users_sessions(client_as: Callable[[str], TestClient],
                                               csrf: Callable[..., str]) -> None:
    ada, ana = client_as("admin"), client_as("analyst")
    assert ada.post("/users/ana", data={"role": "viewer", "csrf_token": csrf(ada)}).status_code == 200
    assert ana.get("/audit", follow_redirects=False).status_code == 303


def test_an_admin_sets_a_users_password(client_as: Callable[[str], TestClient], anonymous: TestClient,
                                        csrf: Callable[..., str]) -> None:
    ada, vera = client_as("admin"), client_as("viewer")
    assert ada.post("/users/vera", data={"password": "short", "csrf_token": csrf(ada)}).status_code == 422
    done = ada.post("/users/vera", data={"password": "vera's new password", "csrf_token": csrf(ada)})
    assert done.status_code == 200
    assert vera.get("/", follow_redirects=False).status_code == 303  # her session ended
    assert _post_login(anonymous, csrf, "vera", PASSWORD).status_code == 401
    assert _post_login(anonymous, csrf, "vera", "vera's new password").status_code == 303
    audit = ada.get("/audit").text
    assert "user:vera" in audit and "password: set" in audit and "new password" not in audit


def test_an_admin_cannot_demote_or_disable_themself(client_as: Callable[[str], TestClient],
                                                    csrf: Callable[..., str]) -> None:
    ada = client_as("admin")
    assert ada.post("/users/ada", data={"role": "viewer", "csrf_token": csrf(ada)}).status_code == 422
    assert ada.post("/users/ada", data={"disabled": "1", "csrf_token": csrf(ada)}).status_code == 422
    assert ada.get("/users").status_code == 200


def test_hostile_user_names_are_refused_and_nothing_is_unescaped(client_as: Callable[[str], TestClient],
                                                                 csrf: Callable[..., str]) -> None:
    ada = client_as("admin")
    response = ada.post("/users", data={"name": "<script>x</script>", "role": "viewer", "password": PASSWORD,
                                        "csrf_token": csrf(ada)})
    assert response.status_code == 422
    assert "<script>x" not in response.text and "&lt;script&gt;x" in response.text


def test_the_secret_is_generated_once_and_kept_unless_the_environment_sets_it(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with Store(store_path) as store:
        kept = console_secret(store)
        assert console_secret(store) == kept and len(kept) >= 32
        monkeypatch.setenv(SECRET_ENV, "x" * 40)
        assert console_secret(store) == "x" * 40


def test_console_user_add_and_password_take_the_password_from_the_environment(store_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("DISTILLGUARD_CONSOLE_PASSWORD", "the password of carol")
    result = runner.invoke(cli, ["console", "user", "add", "carol", "--role", "analyst", "--db", str(store_path)])
    assert result.exit_code == 0, result.output
    with Store(store_path, read_only=True) as store:
        carol = get_user(store, "carol")
    assert carol is not None and carol.role == "analyst" and password_matches(carol, "the password of carol")
    again = runner.invoke(cli, ["console", "user", "add", "carol", "--role", "viewer", "--db", str(store_path)])
    assert again.exit_code == 2 and "exists already" in again.output
    bad_role = runner.invoke(cli, ["console", "user", "add", "dave", "--role", "root", "--db", str(store_path)])
    assert bad_role.exit_code == 2 and "role" in bad_role.output
    monkeypatch.setenv("DISTILLGUARD_CONSOLE_PASSWORD", "carol's second password")
    reset = runner.invoke(cli, ["console", "user", "password", "carol", "--db", str(store_path)])
    assert reset.exit_code == 0, reset.output
    with Store(store_path, read_only=True) as store:
        carol = get_user(store, "carol")
    assert carol is not None and password_matches(carol, "carol's second password")
    nobody = runner.invoke(cli, ["console", "user", "password", "nobody", "--db", str(store_path)])
    assert nobody.exit_code == 2 and "no console user" in nobody.output


def test_console_serves_over_http_and_creates_the_first_admin_from_the_environment(
        tmp_path: Path) -> None:
    db = tmp_path / "fresh.duckdb"
    with Store(db):  # an empty store: the console has no user yet
        pass
    port = free_port()
    env = {**os.environ, "DISTILLGUARD_CONSOLE_ADMIN": "root",
           "DISTILLGUARD_CONSOLE_ADMIN_PASSWORD": "the first admin's password"}
    env.pop(SECRET_ENV, None)
    proc = subprocess.Popen([sys.executable, "-m", "distillguard.cli", "console", "--db", str(db), "--port", str(port)],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/login").status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                return False

        wait_until(up, "the console answers")
        with httpx.Client(base_url=base) as client:
            assert client.get("/audit").status_code == 303
            page = client.get("/login").text
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            response = client.post("/login", data={"name": "root", "password": "the first admin's password",
                                                   "csrf_token": token})
            assert response.status_code == 303
            assert client.get("/users").status_code == 200
            cookie = client.cookies[SESSION_COOKIE]
            payload = cookie.split(".")[0]
            sid = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["sid"]
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0].decode()
    assert "first admin root created" in output
    assert "POST /login" in output  # the access log is there, and holds no secret:
    for secret in ("the first admin's password", token, cookie, sid):
        assert secret not in output


def test_console_without_a_user_or_a_terminal_says_how_to_create_the_first_admin(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "empty.duckdb"
    with Store(db):
        pass
    monkeypatch.delenv("DISTILLGUARD_CONSOLE_ADMIN", raising=False)
    result = CliRunner().invoke(cli, ["console", "--db", str(db)])
    assert result.exit_code == 2 and "DISTILLGUARD_CONSOLE_ADMIN" in result.output
