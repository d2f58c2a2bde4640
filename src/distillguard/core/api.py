"""The LLM API formats distillguard reads, and the request path of each."""

from __future__ import annotations

from enum import StrEnum


class ApiFormat(StrEnum):
    """The wire format of a request and its response (one per API endpoint)."""

    ANTHROPIC = "anthropic"
    """Anthropic Messages."""
    CHAT = "chat"
    """OpenAI Chat Completions."""
    RESPONSES = "responses"
    """OpenAI Responses."""

    @property
    def path(self) -> str:
        """The request path that serves this format."""
        return _FORMAT_PATHS[self]


API_PATHS: dict[str, ApiFormat] = {
    "/v1/messages": ApiFormat.ANTHROPIC,
    "/v1/chat/completions": ApiFormat.CHAT,
    "/v1/responses": ApiFormat.RESPONSES,
}
"""The request path of each API format, exactly as the APIs serve them."""

_FORMAT_PATHS: dict[ApiFormat, str] = {fmt: path for path, fmt in API_PATHS.items()}
#: Path endings without the version segment: "/messages", "/chat/completions", "/responses".
_PATH_SUFFIXES: tuple[tuple[str, ApiFormat], ...] = tuple(
    (path.removeprefix("/v1"), fmt) for path, fmt in API_PATHS.items()
)


def api_format_of(path: str) -> ApiFormat | None:
    """The format a logged request path names: an :data:`API_PATHS` entry, else matched by its
    ending whatever its prefix, query string or trailing slash; None if it names none."""
    fmt = API_PATHS.get(path)
    if fmt is not None:
        return fmt
    path = path.split("?", 1)[0].rstrip("/")
    for suffix, fmt in _PATH_SUFFIXES:
        if path.endswith(suffix):
            return fmt
    return None
