"""The API formats and the one map of their request paths."""

from __future__ import annotations

import pytest

from distillguard.core.api import API_PATHS, ApiFormat, api_format_of, api_route, route_path


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


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1/chat/completions", "/v1/chat/completions"),
    ("//v1//chat///completions/", "/v1/chat/completions"),
    ("/v1/./chat/./completions", "/v1/chat/completions"),
    ("/v1/x/y/../../chat/completions", "/v1/chat/completions"),
    ("/../../v1/messages", "/v1/messages"),  # above the root stays at the root
    ("/V1/Chat/Completions", "/v1/chat/completions"),
    ("/v1;a=b/messages;x", "/v1/messages"),
    ("/v1/%6Dessages", "/v1/messages"),
    ("/v1/chat%2Fcompletions", "/v1/chat/completions"),
    ("/v1/%252Fmessages", "/v1/messages"),  # encoded twice
    ("/v1\\messages", "/v1/messages"),
    ("/v1/messages%00.json", "/v1/messages"),
    ("", "/"),
])
def test_route_path_reads_a_path_as_a_lenient_upstream(path: str, expected: str) -> None:
    assert route_path(path) == expected


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("POST", "/v1/messages/", ApiFormat.ANTHROPIC),
    ("post", "/V1/responses", ApiFormat.RESPONSES),
    ("GET", "/v1/responses", None),
    ("POST", "/v1/responses/resp_1", None),
    ("POST", "/v1/completions", None),
])
def test_api_route_is_a_post_to_one_of_the_api_paths(method: str, path: str, expected: ApiFormat | None) -> None:
    assert api_route(method, path) is expected
