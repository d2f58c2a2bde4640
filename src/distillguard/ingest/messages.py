"""The conversation in a request's messages, read the same way in every API format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from distillguard.core.errors import RecordError
from distillguard.ingest.fields import UNKNOWN_REQUEST, USER_TEXT_TYPES, text_of

__all__ = ["Conversation", "read_conversation"]


class Conversation(NamedTuple):
    """What a list of messages holds besides the assistant's turns."""

    prompt: str | None
    """Text of the last user message; None when there is no user message."""
    system_parts: list[str]
    """Texts of the ``system`` / ``developer`` messages, in order."""
    n_user_turns: int
    """User messages with something besides tool results."""
    n_tool_results: int


def read_conversation(
    messages: list[Any], count_roleless: Callable[[dict[str, Any]], int] | None = None
) -> Conversation:
    """Read chat-style messages (``role`` and ``content``).

    A message without a role is passed to ``count_roleless``, which returns how many tool
    results it is (formats whose items may have no role); without it, or for an unknown
    role or a message that is not an object, :class:`RecordError` says the request is of
    no known shape.
    """
    system_parts: list[str] = []
    n_user_turns = 0
    n_tool_results = 0
    last_user: Any = None
    has_user = False
    for m in messages:
        if type(m) is not dict:
            raise RecordError(UNKNOWN_REQUEST, "request")
        role = m.get("role")
        if role == "user":
            has_user = True
            content = last_user = m.get("content")
            if type(content) is list:
                turn = False
                for b in content:
                    if type(b) is dict and b.get("type") == "tool_result":
                        n_tool_results += 1
                    else:
                        turn = True
                if turn:
                    n_user_turns += 1
            elif type(content) is str:
                n_user_turns += 1
            elif content is not None:
                raise RecordError(UNKNOWN_REQUEST, "request")
        elif role == "assistant":
            pass
        elif role == "system" or role == "developer":
            system_parts.append(text_of(m.get("content")))
        elif role == "tool" or role == "function":
            n_tool_results += 1
        elif role is None and count_roleless is not None:
            n_tool_results += count_roleless(m)
        else:
            raise RecordError(UNKNOWN_REQUEST, "request")
    return Conversation(
        prompt=text_of(last_user, USER_TEXT_TYPES) if has_user else None,
        system_parts=system_parts,
        n_user_turns=n_user_turns,
        n_tool_results=n_tool_results,
    )
