"""Strip or summarise the reasoning in responses of the three APIs, whole or streamed.

Pure functions and small stream transformers, no I/O:

* Anthropic Messages: ``thinking`` / ``redacted_thinking`` content blocks; in
  streams their ``content_block_start`` / ``content_block_delta``
  (``thinking_delta``, ``signature_delta``) / ``content_block_stop`` events,
  the later blocks' ``index`` renumbered.
* OpenAI Chat Completions: ``choices[].message.reasoning_content`` /
  ``reasoning`` (and ``reasoning_details``); in streams the same keys of
  ``choices[].delta``.
* OpenAI Responses: ``output`` items of type ``reasoning``; in streams every
  event of a reasoning item (``response.output_item.added/done``,
  ``response.reasoning_summary_*``, ``response.reasoning_text.*``, ...), the
  later items' ``output_index`` and every event's ``sequence_number`` renumbered.
* Inline reasoning in the answer's text, as open-weight models' servers emit
  it: ``<think>…</think>`` and ``<thinking>…</thinking>`` spans (an unclosed
  one runs to the end), also when a tag is split across deltas or chunks.

A body that is not JSON of a known shape passes unchanged: degrading is never a
reason to break a response. But a body with a part the transformer cannot
handle safely is never passed on as it came (it may hold reasoning). One rule,
the proxy's for an upstream that failed: the answer becomes an error in the
API's shape (a whole body: a 502 JSON error; a stream: one error event, then
nothing more). Parts of a stream that break the API's own shape (an ``index``
that is no integer) are dropped instead, as reasoning may hide in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from distillguard.core.api import ApiFormat
from distillguard.gateway.sse import SseEvent, SseParser, encode_event
from distillguard.gateway.summarize import Summarizer
from distillguard.gateway.upstream_errors import error_event, error_json

_CHAT_REASONING_KEYS = ("reasoning_content", "reasoning", "reasoning_details")
_THINKING = ("thinking", "redacted_thinking")
_OUTPUT_TEXT = ("output_text",)


class Degradation(StrEnum):
    """What happens to a reasoning trace."""

    STRIP = "strip"
    SUMMARIZE = "summarize"


@dataclass(frozen=True, slots=True)
class ReasoningTransform:
    """A degradation and, to summarise, the summariser."""

    mode: Degradation
    summarizer: Summarizer

    def summary(self, text: str) -> str:
        """The text put in place of a trace."""
        return self.summarizer.summarize(text)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


class _Unencodable(Exception):
    """A degraded document orjson cannot write (nested deeper than it writes, which is less than it reads)."""


def _dumps(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError as e:
        raise _Unencodable(str(e)) from e


def _int(value: Any) -> bool:
    """An index as the APIs send it: an integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


_FAILED = "the gateway could not remove the reasoning from the upstream answer"


# --- inline reasoning in the answer's text ----------------------------------------------

_OPEN_TAGS = ("<think>", "<thinking>")


class InlineReasoning:
    """Removes (or summarises) the ``<think>`` / ``<thinking>`` spans of a text fed in pieces.

    A piece that may be the start of a tag is held back until the next piece
    tells; :meth:`close` returns what is still held at the end. Feeding a text
    in any pieces gives the same result as feeding it whole.
    """

    def __init__(self, transform: ReasoningTransform) -> None:
        self.transform = transform
        self._opened: str | None = None  # the opening tag of the span the text is in
        self._pending = ""
        self._span: list[str] = []

    def feed(self, text: str) -> str:
        """The text of ``text`` that is not reasoning (with a summary where a span ended, to summarise)."""
        text, self._pending = self._pending + text, ""
        out: list[str] = []
        while text:
            if self._opened is None:
                at = text.find("<")
                if at < 0:
                    out.append(text)
                    break
                out.append(text[:at])
                text = text[at:]
                tag = next((t for t in _OPEN_TAGS if text.startswith(t)), None)
                if tag is not None:
                    self._opened = tag
                    text = text[len(tag):]
                elif any(t.startswith(text) for t in _OPEN_TAGS):
                    self._pending = text
                    break
                else:
                    out.append("<")
                    text = text[1:]
            else:
                closing = "</" + self._opened[1:]
                at = text.find(closing)
                if at >= 0:
                    self._span.append(text[:at])
                    text = text[at + len(closing):]
                    out.append(self._end_span())
                    continue
                keep = _partial_suffix(text, closing)
                self._span.append(text[: len(text) - keep])
                self._pending = text[len(text) - keep:]
                break
        return "".join(out)

    def close(self) -> str:
        """What is held at the end of the text (an unclosed span ends here)."""
        rest, self._pending = self._pending, ""
        if self._opened is None:
            return rest
        self._span.append(rest)
        return self._end_span()

    def _end_span(self) -> str:
        span, opened = "".join(self._span), self._opened or ""
        self._span, self._opened = [], None
        if self.transform.mode is Degradation.STRIP:
            return ""
        summary = self.transform.summary(span)
        return f"{opened}{summary}</{opened[1:]}" if summary else ""


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that begins ``tag`` (a tag maybe cut by the piece's end)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def strip_inline(text: str, transform: ReasoningTransform) -> str:
    """``text`` without (or with summaries of) its inline reasoning spans."""
    inline = InlineReasoning(transform)
    return inline.feed(text) + inline.close()


def _inline_parts(parts: Any, transform: ReasoningTransform, kinds: tuple[str, ...]) -> bool:
    """Degrade the ``text`` of the content parts of ``kinds`` in place; True if any changed."""
    changed = False
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, dict) and part.get("type") in kinds and isinstance(part.get("text"), str):
            text = strip_inline(part["text"], transform)
            if text != part["text"]:
                part["text"] = text
                changed = True
    return changed


# --- whole JSON bodies ----------------------------------------------------------------


class Transformed(NamedTuple):
    """A degraded whole body, and the status to answer with instead of the upstream's (None: keep it)."""

    body: bytes
    status: int | None = None


def transform_json(api: ApiFormat, body: bytes, transform: ReasoningTransform) -> Transformed:
    """The response body without (or with a summary of) its reasoning; unchanged if unknown; a 502 error in
    the API's shape if the degraded body cannot be written."""
    doc = _loads(body)
    if not isinstance(doc, dict):
        return Transformed(body)
    if not transform_document(api, doc, transform):
        return Transformed(body)
    try:
        return Transformed(_dumps(doc))
    except _Unencodable as e:
        return Transformed(error_json(api, 502, f"{_FAILED}: {e}"), 502)


def transform_document(api: ApiFormat, doc: dict[str, Any], transform: ReasoningTransform) -> bool:
    """Degrade a parsed response in place; True if anything changed."""
    if api is ApiFormat.ANTHROPIC:
        return _anthropic_content(doc, transform)
    if api is ApiFormat.CHAT:
        choices = doc.get("choices")
        if not isinstance(choices, list):
            return False
        changed = False
        for choice in choices:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                changed |= _chat_fields(choice["message"], transform)
        return changed
    return _responses_output(doc, transform)


def _anthropic_content(doc: dict[str, Any], transform: ReasoningTransform) -> bool:
    content = doc.get("content")
    if not isinstance(content, list):
        return False
    kept: list[Any] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _THINKING:
            kept.append(block)
        elif kind == "thinking" and transform.mode is Degradation.SUMMARIZE:
            kept.append({**block, "thinking": transform.summary(str(block.get("thinking") or ""))})
    changed = len(kept) != len(content) or (transform.mode is Degradation.SUMMARIZE and any(
        isinstance(b, dict) and b.get("type") == "thinking" for b in content
    ))
    changed |= _inline_parts(kept, transform, ("text",))
    doc["content"] = kept
    return changed


def _chat_fields(message: dict[str, Any], transform: ReasoningTransform) -> bool:
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = strip_inline(content, transform)
        changed = bool(message["content"] != content)
    else:
        changed = _inline_parts(content, transform, ("text",))
    for key in _CHAT_REASONING_KEYS:
        if key not in message:
            continue
        value = message.pop(key)
        changed = True
        if transform.mode is Degradation.SUMMARIZE and isinstance(value, str) and value:
            message[key] = transform.summary(value)
    return changed


def _reasoning_text(item: dict[str, Any]) -> str:
    """The raw reasoning of a Responses item when it has any, else its summary."""
    for key in ("content", "summary"):
        value = item.get(key)
        items = value if isinstance(value, list) else ()
        parts = [p["text"] for p in items if isinstance(p, dict) and isinstance(p.get("text"), str)]
        if parts:
            return "\n\n".join(parts)
    return ""


def _summarised_item(item: dict[str, Any], summary: str) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k not in ("content", "encrypted_content", "summary")}
    out["summary"] = [{"type": "summary_text", "text": summary}] if summary else []
    return out


def _responses_output(doc: dict[str, Any], transform: ReasoningTransform) -> bool:
    output = doc.get("output")
    if not isinstance(output, list):
        return False
    changed = False
    kept: list[Any] = []
    for item in output:
        if not (isinstance(item, dict) and item.get("type") == "reasoning"):
            if isinstance(item, dict) and item.get("type") == "message":
                changed |= _inline_parts(item.get("content"), transform, _OUTPUT_TEXT)
            kept.append(item)
            continue
        changed = True
        if transform.mode is Degradation.SUMMARIZE:
            kept.append(_summarised_item(item, transform.summary(_reasoning_text(item))))
    doc["output"] = kept
    return changed


# --- streams --------------------------------------------------------------------------


class StreamTransformer:
    """Degrades an SSE response body chunk by chunk; unknown events pass byte for byte.

    An event whose degraded form cannot be written ends the stream with the API's error event; the rest of
    the upstream's stream is dropped.
    """

    api: ApiFormat

    def __init__(self, transform: ReasoningTransform) -> None:
        self.transform = transform
        self._parser = SseParser()
        self._failed = False

    def feed(self, chunk: bytes) -> bytes:
        """The transformed bytes for ``chunk`` (possibly empty while an event is incomplete)."""
        return self._events(self._parser.feed(chunk), finish=False)

    def close(self) -> bytes:
        """Whatever remains at the end of the stream."""
        return self._events(self._parser.close(), finish=True)

    def _events(self, events: list[SseEvent], finish: bool) -> bytes:
        if self._failed:
            return b""
        out: list[bytes] = []
        try:
            out.extend(self._event(e) for e in events)
            if finish:
                out.append(self._finish())
        except _Unencodable as e:  # the events before it are sent, whatever the chunks
            self._failed = True
            out.append(error_event(self.api, f"{_FAILED}: {e}", self._sequence_number()))
        return b"".join(out)

    def _sequence_number(self) -> int | None:
        return None

    def _event(self, event: SseEvent) -> bytes:
        raise NotImplementedError

    def _finish(self) -> bytes:
        return b""


def stream_transformer(api: ApiFormat, transform: ReasoningTransform) -> StreamTransformer:
    """The stream transformer for one response of ``api``."""
    kinds: dict[ApiFormat, type[StreamTransformer]] = {
        ApiFormat.ANTHROPIC: AnthropicStream, ApiFormat.CHAT: ChatStream, ApiFormat.RESPONSES: ResponsesStream,
    }
    return kinds[api](transform)


class AnthropicStream(StreamTransformer):
    """Messages streams: thinking blocks dropped or replaced by one summary delta, indices renumbered."""

    api = ApiFormat.ANTHROPIC

    def __init__(self, transform: ReasoningTransform) -> None:
        super().__init__(transform)
        self._dropped: set[int] = set()
        self._held: dict[int, dict[str, Any]] = {}
        self._text: dict[int, InlineReasoning] = {}

    def _out_index(self, index: int) -> int:
        return index - sum(1 for d in self._dropped if d < index)

    def _emit(self, name: str | None, doc: dict[str, Any]) -> bytes:
        return encode_event(_dumps(doc).decode(), name)

    def _event(self, event: SseEvent) -> bytes:
        doc = _loads(event.data) if event.data else None
        if not isinstance(doc, dict) or not isinstance(doc.get("index"), int):
            return event.raw
        index = doc["index"]
        kind = doc.get("type")
        if kind == "content_block_start":
            block = doc.get("content_block") or {}
            block_type = block.get("type") if isinstance(block, dict) else None
            if block_type == "redacted_thinking" or (
                block_type == "thinking" and self.transform.mode is Degradation.STRIP
            ):
                self._dropped.add(index)
                return b""
            if block_type == "thinking":
                self._held[index] = {"start": doc, "name": event.event, "text": [], "signature": None}
                return b""
        if index in self._dropped:
            return b""
        held = self._held.get(index)
        if held is not None:
            return self._summarise(index, held, doc, event)
        edited = self._inline(index, doc)
        if edited is not None:
            return edited
        if index == self._out_index(index):
            return event.raw
        return self._emit(event.event, {**doc, "index": self._out_index(index)})

    def _inline(self, index: int, doc: dict[str, Any]) -> bytes | None:
        """The events of a text block's event without its inline reasoning; None when it is unchanged."""
        kind = doc.get("type")
        out_index = self._out_index(index)
        if kind == "content_block_start":
            block = doc.get("content_block")
            if not (isinstance(block, dict) and block.get("type") == "text"):
                return None
            started = self._text[index] = InlineReasoning(self.transform)
            first = block.get("text")
            if not isinstance(first, str) or not first:
                return None
            return self._emit("content_block_start", {**doc, "index": out_index,
                                                      "content_block": {**block, "text": started.feed(first)}})
        inline = self._text.get(index)
        if inline is None:
            return None
        if kind == "content_block_stop":
            del self._text[index]
            tail = inline.close()
            if not tail:
                return None
            last = {"type": "content_block_delta", "index": out_index, "delta": {"type": "text_delta", "text": tail}}
            return self._emit("content_block_delta", last) + self._emit("content_block_stop",
                                                                        {**doc, "index": out_index})
        delta = doc.get("delta")
        if kind != "content_block_delta" or not isinstance(delta, dict) or delta.get("type") != "text_delta":
            return None
        text = str(delta.get("text") or "")
        kept = inline.feed(text)
        if kept == text:
            return None
        if not kept:
            return b""
        return self._emit("content_block_delta", {**doc, "index": out_index, "delta": {**delta, "text": kept}})

    def _summarise(self, index: int, held: dict[str, Any], doc: dict[str, Any], event: SseEvent) -> bytes:
        kind = doc.get("type")
        delta = _dict(doc.get("delta"))
        if kind == "content_block_delta":
            if delta.get("type") == "thinking_delta":
                held["text"].append(str(delta.get("thinking") or ""))
            elif delta.get("type") == "signature_delta":
                held["signature"] = delta.get("signature")
            return b""
        if kind != "content_block_stop":
            return event.raw
        del self._held[index]
        out_index = self._out_index(index)
        start = {**held["start"], "index": out_index}
        parts = [self._emit(held["name"], start)]
        summary = self.transform.summary("".join(held["text"]))
        parts.append(self._emit("content_block_delta", {
            "type": "content_block_delta", "index": out_index,
            "delta": {"type": "thinking_delta", "thinking": summary}}))
        if held["signature"] is not None:
            parts.append(self._emit("content_block_delta", {
                "type": "content_block_delta", "index": out_index,
                "delta": {"type": "signature_delta", "signature": held["signature"]}}))
        parts.append(self._emit(event.event, {**doc, "index": out_index}))
        return b"".join(parts)


class ChatStream(StreamTransformer):
    """Chat Completions streams: reasoning deltas dropped, or held and sent as one summary; inline reasoning
    taken out of the content deltas; a choice whose ``index`` is no integer dropped."""

    api = ApiFormat.CHAT

    def __init__(self, transform: ReasoningTransform) -> None:
        super().__init__(transform)
        self._held: dict[int, dict[str, Any]] = {}
        self._text: dict[int, InlineReasoning] = {}
        self._envelope: dict[str, Any] = {}

    def _event(self, event: SseEvent) -> bytes:
        if event.is_done:
            return self._flush_all() + event.raw
        doc = _loads(event.data) if event.data else None
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or not isinstance(choices, list):
            return event.raw
        self._envelope = {k: v for k, v in doc.items() if k not in ("choices", "usage")}
        out = b""
        changed = False
        kept = []
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(choice, dict) or not isinstance(delta, dict):
                kept.append(choice)
                continue
            index = choice.get("index", 0)
            if not _int(index):  # no choice of the API: its reasoning cannot be told from its answer
                changed = True
                continue
            reasoning = any(k in delta for k in _CHAT_REASONING_KEYS)
            rest = {k: v for k, v in delta.items() if k not in _CHAT_REASONING_KEYS}
            edited = self._inline(index, rest, choice.get("finish_reason") is not None)
            if not (reasoning or edited):
                if index in self._held and _says_more(choice):
                    out += self._flush(index)
                kept.append(choice)
                continue
            changed = True
            if reasoning and self.transform.mode is Degradation.SUMMARIZE:
                held = self._held.setdefault(index, {"envelope": doc, "key": None, "text": []})
                for key in _CHAT_REASONING_KEYS:
                    if isinstance(delta.get(key), str):
                        held["key"] = held["key"] or key
                        held["text"].append(delta[key])
            if index in self._held and _says_more({**choice, "delta": rest}):
                out += self._flush(index)
            if rest or choice.get("finish_reason") is not None:
                kept.append({**choice, "delta": rest})
        if not changed:
            return out + event.raw
        if not kept and doc.get("usage") is None:
            return out
        return out + encode_event(_dumps({**doc, "choices": kept}).decode(), event.event)

    def _inline(self, index: int, delta: dict[str, Any], finishing: bool) -> bool:
        """Take inline reasoning out of ``delta["content"]`` in place (all of it when ``finishing``); True if
        the content changed (an emptied content is removed)."""
        content = delta.get("content")
        if not isinstance(content, str) and not (finishing and index in self._text):
            return False
        inline = self._text.setdefault(index, InlineReasoning(self.transform))
        text = inline.feed(content) if isinstance(content, str) else ""
        if finishing:
            text += self._text.pop(index).close()
        if text == (content if isinstance(content, str) else ""):
            return False
        if text:
            delta["content"] = text
        else:
            delta.pop("content", None)
        return True

    def _flush(self, index: int) -> bytes:
        held = self._held.pop(index, None)
        if held is None or not held["key"]:
            return b""
        envelope = {k: v for k, v in held["envelope"].items() if k != "usage"}
        choice = {"index": index, "delta": {held["key"]: self.transform.summary("".join(held["text"]))},
                  "finish_reason": None}
        return encode_event(_dumps({**envelope, "choices": [choice]}).decode())

    def _flush_all(self) -> bytes:
        out = b"".join(self._flush(i) for i in sorted(self._held))
        for index in sorted(self._text):
            tail = self._text.pop(index).close()
            if tail:
                choice = {"index": index, "delta": {"content": tail}, "finish_reason": None}
                out += encode_event(_dumps({**self._envelope, "choices": [choice]}).decode())
        return out

    def _finish(self) -> bytes:
        return self._flush_all()


def _says_more(choice: dict[str, Any]) -> bool:
    """A choice chunk that carries answer content, a tool call or the finish reason."""
    delta = _dict(choice.get("delta"))
    return bool(delta.get("content") or delta.get("tool_calls") or delta.get("function_call")
                or choice.get("finish_reason") is not None)


class ResponsesStream(StreamTransformer):
    """Responses streams: reasoning items' events dropped or replaced, indices and sequence renumbered; an
    answer text event whose indices are no integers dropped."""

    api = ApiFormat.RESPONSES

    def __init__(self, transform: ReasoningTransform) -> None:
        super().__init__(transform)
        self._reasoning: set[int] = set()
        self._sequence = 0
        self._text: dict[tuple[int, Any], InlineReasoning] = {}

    def _out_index(self, index: int) -> int:
        if self.transform.mode is Degradation.SUMMARIZE:
            return index
        return index - sum(1 for r in self._reasoning if r < index)

    def _sequence_number(self) -> int | None:
        return self._sequence

    def _emit(self, doc: dict[str, Any]) -> bytes:
        numbered = "sequence_number" in doc
        if numbered:
            doc = {**doc, "sequence_number": self._sequence}
        out = encode_event(_dumps(doc).decode(), doc.get("type"))
        self._sequence += numbered
        return out

    def _event(self, event: SseEvent) -> bytes:
        doc = _loads(event.data) if event.data else None
        if not isinstance(doc, dict):
            return event.raw
        index = doc.get("output_index")
        item = doc.get("item") if isinstance(doc.get("item"), dict) else None
        if isinstance(index, int):
            if doc.get("type") == "response.output_item.added" and item and item.get("type") == "reasoning":
                self._reasoning.add(index)
            if index in self._reasoning:
                done = doc.get("type") == "response.output_item.done"
                if self.transform.mode is Degradation.SUMMARIZE and done and item:
                    return self._summary_events(index, item)
                return b""
        inline = self._inline(doc, index, item)
        if inline is None:
            return b""
        prefix, changed = inline
        if isinstance(index, int) and self._out_index(index) != index:
            doc["output_index"] = self._out_index(index)
            changed = True
        response = doc.get("response")
        if isinstance(response, dict):
            changed |= _responses_output(response, self.transform)
        if not changed and "sequence_number" not in doc:
            return event.raw
        if not (changed or prefix) and doc["sequence_number"] == self._sequence:
            self._sequence += 1
            return event.raw
        return prefix + self._emit(doc)

    def _inline(self, doc: dict[str, Any], index: Any, item: dict[str, Any] | None) -> tuple[bytes, bool] | None:
        """Take inline reasoning out of an answer text event in place: (events to send before it, whether it
        changed); None to drop the event (a delta of reasoning only)."""
        kind = doc.get("type")
        key = (index, doc.get("content_index"))
        if kind in ("response.output_text.delta", "response.output_text.done") and not all(
                k is None or _int(k) for k in key):
            return None  # no text of the API: inline reasoning in it cannot be followed
        if kind == "response.output_text.delta" and isinstance(doc.get("delta"), str):
            text = self._text.setdefault(key, InlineReasoning(self.transform)).feed(doc["delta"])
            if text == doc["delta"]:
                return b"", False
            if not text:
                return None
            doc["delta"] = text
            return b"", True
        if kind == "response.output_text.done" and isinstance(doc.get("text"), str):
            held = self._text.pop(key, None)
            tail = held.close() if held is not None else ""
            prefix = b""
            if tail:
                prefix = self._emit({"type": "response.output_text.delta", "item_id": doc.get("item_id"),
                                     "output_index": self._out_index(index) if isinstance(index, int) else index,
                                     "content_index": doc.get("content_index"), "delta": tail,
                                     "sequence_number": 0})
            text = strip_inline(doc["text"], self.transform)
            changed = text != doc["text"]
            doc["text"] = text
            return prefix, changed
        if kind in ("response.content_part.added", "response.content_part.done"):
            return b"", _inline_parts([doc.get("part")], self.transform, _OUTPUT_TEXT)
        if item is not None and item.get("type") == "message":
            return b"", _inline_parts(item.get("content"), self.transform, _OUTPUT_TEXT)
        return b"", False

    def _summary_events(self, index: int, item: dict[str, Any]) -> bytes:
        summary = self.transform.summary(_reasoning_text(item))
        done = _summarised_item(item, summary)
        item_id = item.get("id")
        part = {"type": "summary_text", "text": summary}
        base = {"item_id": item_id, "output_index": index, "sequence_number": 0}
        events = [{"type": "response.output_item.added", "output_index": index, "sequence_number": 0,
                   "item": {**done, "summary": []}}]
        if summary:
            events += [
                {"type": "response.reasoning_summary_part.added", **base, "summary_index": 0,
                 "part": {"type": "summary_text", "text": ""}},
                {"type": "response.reasoning_summary_text.delta", **base, "summary_index": 0, "delta": summary},
                {"type": "response.reasoning_summary_text.done", **base, "summary_index": 0, "text": summary},
                {"type": "response.reasoning_summary_part.done", **base, "summary_index": 0, "part": part},
            ]
        events.append({"type": "response.output_item.done", "output_index": index, "sequence_number": 0,
                       "item": done})
        return b"".join(self._emit(e) for e in events)
