"""Console fixtures: the smoke scenario analysed into a store once per session, with one user per role; an app
over a fresh copy of it per test; clients logged in per role."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from distillguard.console.app import console_secret, create_app
from distillguard.console.auth import LoginLimits, new_user
from distillguard.store import Store
from distillguard.store.console import add_user
from smoke_store import analysed_smoke

PASSWORD = "correct horse battery staple"
USERS = {"vera": "viewer", "ana": "analyst", "ada": "admin"}
"""One user per role, all with :data:`PASSWORD`."""
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke scenario simulated and analysed through the CLI, with the users of :data:`USERS` (do not write)."""
    db = analysed_smoke(tmp_path_factory.mktemp("console-smoke"))
    with Store(db) as store:
        console_secret(store)
        for name, role in USERS.items():
            add_user(store, new_user(name, PASSWORD, role))
    return db


@pytest.fixture
def store_path(smoke_store: Path, tmp_path: Path) -> Path:
    """A copy of the smoke store this test may write."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(smoke_store, path)
    return path


@pytest.fixture
def secret(store_path: Path) -> str:
    """The console secret kept in the store."""
    with Store(store_path) as store:
        return console_secret(store)


@pytest.fixture
def console_app(store_path: Path, secret: str) -> Starlette:
    """The console over the test's store, with small login limits (3 per name, 6 per address)."""
    return create_app(store_path, secret=secret, limits=LoginLimits(per_name=3, per_address=6, window_s=600))


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """The CSRF token on the page at ``path`` (the session's once logged in)."""
    found = _CSRF.search(client.get(path).text)
    assert found, f"no csrf_token field on {path}"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD, **extra: str) -> int:
    """Log ``client`` in through the form; the status of the POST."""
    token = csrf_of(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token, **extra},
                       follow_redirects=False).status_code


@pytest.fixture
def client_as(console_app: Starlette) -> Iterator[Callable[[str], TestClient]]:
    """A client logged in as the user of a role (``viewer``, ``analyst``, ``admin``)."""
    clients: list[TestClient] = []

    def make(role: str) -> TestClient:
        name = next(n for n, r in USERS.items() if r == role)
        client = TestClient(console_app, base_url="http://127.0.0.1")
        clients.append(client)
        assert login(client, name) == 303
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def anonymous(console_app: Starlette) -> Iterator[TestClient]:
    """A client with no session."""
    with TestClient(console_app, base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture(name="log_in")
def log_in_fixture() -> Callable[..., int]:
    """:func:`login`, for the tests (helpers of a conftest cannot be imported)."""
    return login


@pytest.fixture(name="csrf")
def csrf_fixture() -> Callable[..., str]:
    """:func:`csrf_of`, for the tests."""
    return csrf_of
