"""The API formats and the one map of their request paths."""

from __future__ import annotations

import pytest

from distillguard.core.api import API_PATHS, ApiFormat, api_format_of


def test_every_format_has_one_path() -> None:
    assert sorted(API_PATHS.values()) == sorted(ApiFormat)
    assert all(API_PATHS[fmt.path] is fmt for fmt in ApiFormat)


PATH_CASES: list[tuple[str, ApiFormat | None]] = [
    ("/v1/messages", ApiFormat.ANTHROPIC),
    ("/v1/chat/completions", ApiFormat.CHAT),
    ("/v1/responses", ApiFormat.RESPONSES),
    ("https://api.example.com/v1/messages?beta=true", ApiFormat.ANTHROPIC),
    ("/openai/deployments/x/chat/completions/", ApiFormat.CHAT),
    ("/proxy/v2/responses?stream=1", ApiFormat.RESPONSES),
    ("/v1/messages/count_tokens", None),
    ("/v1/models", None),
    ("", None),
]


@pytest.mark.parametrize(("path", "expected"), PATH_CASES)
def test_api_format_of_a_logged_path(path: str, expected: ApiFormat | None) -> None:
    assert api_format_of(path) is expected
