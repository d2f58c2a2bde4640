"""The LLM API formats distillguard reads, the request path of each, and how a request path is routed."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import unquote


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


#: Percent-decoding rounds of :func:`route_path`: a path encoded more often is left partly encoded.
_DECODE_ROUNDS = 4


def route_path(path: str) -> str:
    """``path`` the way the most lenient upstream reads it, lower-cased: the key to route a request by.

    Percent-escapes decoded (repeatedly, as some proxy chains do), ``\\`` read as ``/``, a NUL
    ending the path, ``;params`` dropped from every segment, empty and ``.`` segments dropped,
    ``..`` taking off the segment before it, no trailing ``/``. Reading more into a path than an
    upstream would is safe (the request gets an API's checks); reading less would let it past them.
    """
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    path = path.split("\x00", 1)[0].replace("\\", "/")
    segments: list[str] = []
    for segment in path.split("/"):
        segment = segment.split(";", 1)[0]
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments).lower()


def api_route(method: str, path: str) -> ApiFormat | None:
    """The API a request creates a response of: ``POST`` to one of :data:`API_PATHS` once read by
    :func:`route_path`; None for any other route or method."""
    return API_PATHS.get(route_path(path)) if method.upper() == "POST" else None
