"""Fixtures of the gateway tests: a scripted upstream and a real redis-server."""

from collections.abc import Iterator

import pytest
from gwclient import TOKEN
from servers import ScriptedUpstream, serving

from redis_server import running_redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a redis-server started for this test session."""
    with running_redis() as url:
        yield url


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, ScriptedUpstream]]:
    app = ScriptedUpstream()
    with serving(app) as url:
        yield url, app


@pytest.fixture(autouse=True)
def admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLGUARD_ADMIN_TOKEN", TOKEN)
