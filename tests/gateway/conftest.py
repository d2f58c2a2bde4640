"""Fixtures of the gateway tests: helper modules on the path, a real redis-server."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from gwclient import TOKEN  # noqa: E402
from redis_server import running_redis  # noqa: E402
from servers import ScriptedUpstream, serving  # noqa: E402


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
