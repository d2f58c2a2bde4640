import json
import random
import re
from itertools import pairwise

import httpx
import pytest
from gwclient import ADMIN, PATHS, REQUESTS
from gwshapes import ANSWER, REASONING, STREAMS, WHOLE, sse
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from distillguard.core.api import ApiFormat
from distillguard.gateway.adapters import CONFIG_ENV, DistillguardMiddleware
from distillguard.gateway.capture import collect_stream
from distillguard.gateway.proxy import StreamRelay
from distillguard.gateway.reasoning import (
    Degradation,
    InlineReasoning,
    ReasoningTransform,
    stream_transformer,
    strip_inline,
    transform_json,
)
from distillguard.gateway.sse import SseParser
from distillguard.gateway.summarize import ExtractiveSummarizer

SUMMARIZER = ExtractiveSummarizer(max_chars=120)
STRIP = ReasoningTransform(Degradation.STRIP, SUMMARIZER)
SUMMARIZE = ReasoningTransform(Degradation.SUMMARIZE, SUMMARIZER)
SUMMARY = SUMMARIZER.summarize(REASONING)
APIS = [ApiFormat.ANTHROPIC, ApiFormat.CHAT, ApiFormat.RESPONSES]


def _run(api: ApiFormat, transform: ReasoningTransform, body: bytes, pieces: list[bytes]) -> bytes:
    stream = stream_transformer(api, transform)
    return b"".join(stream.feed(p) for p in pieces) + stream.close()


def _split(body: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [body]
    if how == "bytes":
        return [body[i:i + 1] for i in range(len(body))]
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(body)), 40))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


def _events(body: bytes) -> list[dict]:
    parser = SseParser()
    return [json.loads(e.data) for e in [*parser.feed(body), *parser.close()] if not e.is_done]


def test_summary_is_short_deterministic_and_extractive() -> None:
    assert 0 < len(SUMMARY) <= 120
    assert ExtractiveSummarizer(max_chars=120).summarize(REASONING) == SUMMARY
    assert all(s.strip() in REASONING for s in SUMMARY.split(". "))
    assert ExtractiveSummarizer().summarize("") == ""
    assert len(ExtractiveSummarizer(max_chars=40).summarize("word " * 200)) <= 40


@pytest.mark.parametrize("api", APIS)
def test_json_strip_removes_every_trace_and_keeps_the_answer(api: ApiFormat) -> None:
    body = json.dumps(WHOLE[api]()).encode()
    out = transform_json(api, body, STRIP).body
    assert REASONING not in out.decode() and "ENCRYPTED" not in out.decode() and "gAAAA" not in out.decode()
    assert ANSWER in out.decode()
    for key in (b'"thinking"', b'"reasoning_content"', b'"type":"reasoning"', b'"redacted_thinking"'):
        assert key not in out


@pytest.mark.parametrize("api", APIS)
def test_json_summarize_puts_the_summary_in_place(api: ApiFormat) -> None:
    doc = json.loads(transform_json(api, json.dumps(WHOLE[api]()).encode(), SUMMARIZE).body)
    if api is ApiFormat.ANTHROPIC:
        assert [b["type"] for b in doc["content"]] == ["thinking", "text"]
        assert doc["content"][0]["thinking"] == SUMMARY
    elif api is ApiFormat.CHAT:
        assert doc["choices"][0]["message"]["reasoning_content"] == SUMMARY
    else:
        item = doc["output"][0]
        assert item["summary"] == [{"type": "summary_text", "text": SUMMARY}]
        assert "content" not in item and "encrypted_content" not in item


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"error": {"message": "overloaded"}}'])
@pytest.mark.parametrize("api", APIS)
def test_unknown_bodies_pass_unchanged(api: ApiFormat, body: bytes) -> None:
    assert transform_json(api, body, STRIP) == (body, None)


@pytest.mark.parametrize("how", ["whole", "bytes", "random"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("api", APIS)
def test_stream_strip(api: ApiFormat, how: str, newline: str) -> None:
    body = sse(STREAMS[api](), newline)
    out = _run(api, STRIP, body, _split(body, how))
    assert out == _run(api, STRIP, body, [body])  # chunking never changes the result
    text = out.decode()
    assert "sum of the first n odd numbers" not in text and "ENCRYPTED" not in text
    folded = collect_stream(api, out)
    if api is ApiFormat.RESPONSES:
        assert [i["type"] for i in folded["output"]] == ["message"]
        events = _events(out)
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        assert {e["output_index"] for e in events if "output_index" in e} == {0}
    else:
        assert folded["text"] == ANSWER and folded["reasoning"] is None
    if api is ApiFormat.ANTHROPIC:
        assert {e["index"] for e in _events(out) if "index" in e} == {0}
    if api is ApiFormat.CHAT:
        assert text.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize("how", ["whole", "bytes", "random"])
@pytest.mark.parametrize("api", APIS)
def test_stream_summarize(api: ApiFormat, how: str) -> None:
    body = sse(STREAMS[api]())
    out = _run(api, SUMMARIZE, body, _split(body, how))
    assert out == _run(api, SUMMARIZE, body, [body])
    folded = collect_stream(api, out)
    if api is ApiFormat.RESPONSES:
        assert folded["output"][0]["summary"] == [{"type": "summary_text", "text": SUMMARY}]
        events = _events(out)
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        deltas = [e["delta"] for e in events if e["type"].startswith("response.reasoning")
                  and e["type"].endswith(".delta")]
        assert deltas == [SUMMARY]
    else:
        assert folded["text"] == ANSWER and folded["reasoning"] == SUMMARY
    if api is ApiFormat.ANTHROPIC:
        events = _events(out)
        assert sorted({e["index"] for e in events if "index" in e}) == [0, 1]
        assert {"type": "signature_delta", "signature": "EqQBsig"} in [e.get("delta") for e in events]


def test_parser_handles_multiline_data_comments_and_a_missing_final_blank_line() -> None:
    parser = SseParser()
    events = parser.feed(b": keep-alive\n\nevent: x\ndata: a\ndata: b\r\n\r\ndata: tail")
    assert [(e.event, e.data) for e in events] == [("x", "a\nb")]
    assert [e.data for e in parser.close()] == ["tail"]


def test_events_without_reasoning_pass_byte_for_byte() -> None:
    body = sse([e for e in STREAMS[ApiFormat.CHAT]() if "reasoning_content" not in json.dumps(e[1])])
    assert _run(ApiFormat.CHAT, STRIP, body, _split(body, "random")) == body


# --- inline <think> reasoning in the answer's text (issue 14, item 5) ---------------------------------------

INLINE = f"<think>{REASONING}</think>\n\n{ANSWER}"
_CUTS = [0, 4, 60, INLINE.index("</think>") + 4, INLINE.index("</think>") + 9, len(INLINE)]
INLINE_PIECES = [INLINE[a:b] for a, b in pairwise(_CUTS)]  # tags cut across deltas


def _inline_stream(api: ApiFormat) -> bytes:
    """A stream whose answer text carries its reasoning inline, the tags cut across deltas."""
    if api is ApiFormat.ANTHROPIC:
        events = [("message_start", {"type": "message_start", "message": {"id": "m", "content": []}}),
                  ("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
                  *[("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": p}}) for p in INLINE_PIECES],
                  ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                  ("message_stop", {"type": "message_stop"})]
        return sse(events)
    if api is ApiFormat.CHAT:
        def chunk(delta: dict, finish: str | None = None) -> tuple[None, dict]:
            return None, {"id": "c", "object": "chat.completion.chunk",
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return sse([chunk({"role": "assistant", "content": ""}), *[chunk({"content": p}) for p in INLINE_PIECES],
                    chunk({}, "stop"), (None, "[DONE]")])
    part = {"type": "output_text", "text": INLINE, "annotations": []}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": [part]}
    events = [{"type": "response.output_item.added", "output_index": 0, "item": {**message, "content": []}},
              {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
               "part": {**part, "text": ""}},
              *[{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                 "delta": p} for p in INLINE_PIECES],
              {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
               "text": INLINE},
              {"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
               "part": part},
              {"type": "response.output_item.done", "output_index": 0, "item": message},
              {"type": "response.completed", "response": {"id": "r", "output": [message]}}]
    return sse([(e["type"], {**e, "sequence_number": i}) for i, e in enumerate(events)])


def _streamed_text(api: ApiFormat, out: bytes) -> tuple[str, list[str]]:
    """(the answer text the deltas carry, every whole text the other events carry)."""
    events = _events(out)
    if api is ApiFormat.RESPONSES:
        deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        final = collect_stream(api, out)["output"][0]["content"][0]["text"]
        wholes = [e["text"] for e in events if e["type"] == "response.output_text.done"]
        wholes += [e["part"]["text"] for e in events if e["type"] == "response.content_part.done"]
        wholes += [e["item"]["content"][0]["text"] for e in events if e["type"] == "response.output_item.done"]
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        return deltas, [final, *wholes]
    return collect_stream(api, out)["text"], []


def _byte_pieces(body: bytes) -> list[bytes]:
    pieces, i = [], 0
    while i < len(body):  # 1 to 7 bytes each
        pieces.append(body[i:i + 1 + i % 7])
        i += 1 + i % 7
    return pieces


@pytest.mark.parametrize("api", APIS)
def test_inline_reasoning_is_stripped_from_streams_cut_into_1_to_7_byte_chunks(api: ApiFormat) -> None:
    body = _inline_stream(api)
    out = _run(api, STRIP, body, _byte_pieces(body))
    assert out == _run(api, STRIP, body, [body])
    text, wholes = _streamed_text(api, out)
    assert text == "\n\n" + ANSWER
    assert all(w == text for w in wholes)
    assert "Odd numbers" not in out.decode() and "think" not in out.decode()


@pytest.mark.parametrize("api", APIS)
def test_inline_reasoning_is_summarised_in_place(api: ApiFormat) -> None:
    body = _inline_stream(api)
    out = _run(api, SUMMARIZE, body, _byte_pieces(body))
    text, wholes = _streamed_text(api, out)
    assert text == f"<think>{SUMMARY}</think>\n\n{ANSWER}"
    assert all(w == text for w in wholes)
    assert "1+3+5+7+9" not in out.decode()


@pytest.mark.parametrize("api", APIS)
def test_inline_reasoning_is_stripped_from_whole_answers(api: ApiFormat) -> None:
    doc = WHOLE[api]()
    if api is ApiFormat.ANTHROPIC:
        doc["content"][-1]["text"] = INLINE
    elif api is ApiFormat.CHAT:
        doc["choices"][0]["message"]["content"] = INLINE
    else:
        doc["output"][-1]["content"][0]["text"] = INLINE
    out = transform_json(api, json.dumps(doc).encode(), STRIP).body.decode()
    assert "think>" not in out and "Odd numbers" not in out and json.dumps("\n\n" + ANSWER) in out


@pytest.mark.parametrize("text", ["a < b and <b>bold</b>", "<thin ice", "ends with <", "<think>never closed",
                                  "x <thinking>a</thinking> y <think>b</think> z", "</think> stray close"])
def test_inline_filter_gives_the_same_text_whatever_the_pieces(text: str) -> None:
    expected = re.sub(r"<(think|thinking)>.*?(</\1>|\Z)", "", text, flags=re.S)
    for size in range(1, 8):
        inline = InlineReasoning(STRIP)
        got = "".join(inline.feed(text[i:i + size]) for i in range(0, len(text), size)) + inline.close()
        assert got == expected == strip_inline(text, STRIP)


def test_answers_without_inline_reasoning_pass_byte_for_byte() -> None:
    body = sse([(None, {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
                for p in ["2 < 3", " and <b>", "x</b>"]] + [(None, "[DONE]")])
    assert _run(ApiFormat.CHAT, STRIP, body, [body]) == body


_PIECES = st.sampled_from(["<think>", "</think>", "<thinking>", "</thinking>", "<", ">", "/", "think", "a", " ",
                           "<thi", "nk>", "</th", "é", "\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join), st.lists(st.integers(1, 9), min_size=1, max_size=40),
       st.sampled_from([STRIP, SUMMARIZE]))
def test_inline_filter_is_chunking_invariant_and_leaves_no_span(text: str, sizes: list[int],
                                                                transform: ReasoningTransform) -> None:
    inline = InlineReasoning(transform)
    out, at = [], 0
    for size in sizes * (len(text) // len(sizes) + 1):
        if at >= len(text):
            break
        out.append(inline.feed(text[at:at + size]))
        at += size
    got = "".join(out) + inline.close()
    assert got == strip_inline(text, transform)
    if transform is STRIP:
        assert got == re.sub(r"<(think|thinking)>.*?(</\1>|\Z)", "", text, flags=re.S)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("api", APIS)
def test_complete_blocks_are_the_parsers_blocks_whatever_the_chunks(api: ApiFormat, newline: str) -> None:
    body = sse(STREAMS[api](), newline) + b": keep-alive\n\n" + b"data: cut"
    for how in ("bytes", "random"):
        whole, cut = SseParser(), SseParser()
        pieces = _split(body, how)
        assert b"".join(whole.complete(p)[0] for p in pieces) == b"".join(b"".join(cut.blocks(p)) for p in pieces)
        assert whole.rest() == cut.rest() == b"data: cut"


@pytest.mark.parametrize("api", APIS)
def test_the_relay_passes_a_whole_stream_unchanged_and_ends_a_cut_one_with_an_error(api: ApiFormat) -> None:
    body = sse(STREAMS[api]()) + b": keep-alive\n\n"
    relay = StreamRelay(api)
    assert b"".join(relay.feed(p) for p in _split(body, "bytes")) + relay.close() == body
    relay = StreamRelay(api)
    out = b"".join(relay.feed(p) for p in _split(body[: len(body) // 2], "random")) + relay.close()
    events = [e for e in SseParser().feed(out)]
    assert out.startswith(body[: len(out) - len(events[-1].raw)]) and "upstream stream ended" in events[-1].data


# --- hostile or malformed upstream bodies (regressions of bench/fuzz.py findings) ----------------------

SECRET = "SECRET-THOUGHT"


def _deep(depth: int) -> str:
    """JSON nested ``depth`` levels: orjson reads up to 1,024 but writes at most 254."""
    return '{"a":' * depth + "1" + "}" * depth


def _with_deep(event: tuple[str | None, dict | str], api: ApiFormat) -> tuple[str | None, str]:
    """``event`` with a value too deep to write where it is kept (a chat chunk's delta: its envelope may go)."""
    name, data = event
    assert isinstance(data, dict)
    doc = json.loads(json.dumps(data))
    (doc["choices"][0]["delta"] if api is ApiFormat.CHAT else doc)["x"] = "@DEEP@"
    return name, json.dumps(doc).replace('"@DEEP@"', _deep(300))


def _error_shape(api: ApiFormat, doc: dict) -> bool:
    if api is ApiFormat.ANTHROPIC:
        return doc["type"] == "error" and doc["error"]["type"] == "api_error"
    if api is ApiFormat.CHAT:
        return set(doc) == {"error"} and doc["error"]["type"] == "server_error"
    return doc["type"] == "error" and isinstance(doc["message"], str)


@pytest.mark.parametrize("transform", [STRIP, SUMMARIZE], ids=["strip", "summarize"])
@pytest.mark.parametrize("api", APIS)
def test_a_whole_body_too_deep_to_write_becomes_a_502_in_the_apis_shape(api: ApiFormat,
                                                                       transform: ReasoningTransform) -> None:
    # fuzz whole_body:48
    body = json.dumps(WHOLE[api]())[:-1].encode() + b', "x": ' + _deep(300).encode() + b"}"
    out, status = transform_json(api, body, transform)
    assert status == 502
    doc = json.loads(out)
    assert REASONING[:40] not in out.decode() and "ENCRYPTED" not in out.decode()
    if api is ApiFormat.ANTHROPIC:
        assert doc["type"] == "error" and doc["error"]["type"] == "api_error"
    else:
        assert doc["error"]["type"] == "bad_gateway"


# the event re-encoded (renumbered, or the reasoning chunk itself) that carries the too-deep value
_DEEP_AT = {ApiFormat.ANTHROPIC: 10, ApiFormat.CHAT: 1, ApiFormat.RESPONSES: 10}


@pytest.mark.parametrize("how", ["whole", "bytes"])
@pytest.mark.parametrize("transform", [STRIP, SUMMARIZE], ids=["strip", "summarize"])
@pytest.mark.parametrize("api", APIS)
def test_a_stream_event_too_deep_to_write_ends_the_stream_with_the_apis_error(
        api: ApiFormat, transform: ReasoningTransform, how: str) -> None:
    # fuzz sse:0 (chat), sse:331 (anthropic), sse:409 (responses)
    events: list = list(STREAMS[api]())
    events[_DEEP_AT[api]] = _with_deep(events[_DEEP_AT[api]], api)
    body = sse(events)
    out = _run(api, transform, body, _split(body, how))
    assert out == _run(api, transform, body, [body])
    parser = SseParser()
    sent = [*parser.feed(out), *parser.close()]
    assert REASONING[60:100] not in out.decode() and "ENCRYPTED" not in out.decode()
    last = json.loads(sent[-1].data)
    assert _error_shape(api, last)
    assert all(not _error_shape(api, json.loads(e.data)) for e in sent[:-1])
    if api is ApiFormat.RESPONSES:
        assert [json.loads(e.data)["sequence_number"] for e in sent] == list(range(len(sent)))


@pytest.mark.parametrize("transform", [STRIP, SUMMARIZE], ids=["strip", "summarize"])
@pytest.mark.parametrize("index", [[0], {"i": 0}, "1", None, 1.5, True])
def test_a_chat_choice_whose_index_is_no_integer_is_dropped(index: object, transform: ReasoningTransform) -> None:
    # fuzz sse:18 (a list index), sse:1347 (a dict), sse:9810 (a str index held beside 0, then sorted)
    events: list = list(STREAMS[ApiFormat.CHAT]())
    for at, delta in ((3, {"reasoning_content": SECRET}), (5, {"content": f"<think>{SECRET}"})):
        _, chunk = events[at]
        events[at] = (None, {**chunk, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
    body = sse(events)
    out = _run(ApiFormat.CHAT, transform, body, _split(body, "random"))
    assert SECRET not in out.decode()
    folded = collect_stream(ApiFormat.CHAT, out)
    assert folded["text"] == ANSWER
    assert out.decode().rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize("key", ["output_index", "content_index"])
@pytest.mark.parametrize("value", [[1], {"i": 0}, 1.5])
def test_a_responses_text_event_whose_indices_are_no_integers_is_dropped(key: str, value: object) -> None:
    # fuzz sse:134 (a dict content_index), sse:1747 (a list)
    events: list = list(STREAMS[ApiFormat.RESPONSES]())
    name, delta = events[12]
    events[12:12] = [(name, {**delta, key: value, "delta": f"<think>{SECRET}"}),
                     ("response.output_text.done", {**delta, "type": "response.output_text.done", key: value,
                                                    "text": f"<think>{SECRET}"})]
    body = sse(events)
    for transform in (STRIP, SUMMARIZE):
        out = _run(ApiFormat.RESPONSES, transform, body, _split(body, "random"))
        assert SECRET not in out.decode()
        assert ANSWER in out.decode()


@pytest.mark.parametrize("content, summary, expected", [
    (1.5, [{"type": "summary_text", "text": REASONING}], [{"type": "summary_text", "text": SUMMARY}]),
    (True, 0, []),
    ([{"type": "reasoning_text", "text": REASONING}], 7, [{"type": "summary_text", "text": SUMMARY}]),
])
def test_a_responses_reasoning_item_whose_parts_are_no_list_is_summarised_from_its_lists(
        content: object, summary: object, expected: list) -> None:
    # fuzz whole_body:4390 ("content": 1.5)
    doc = WHOLE[ApiFormat.RESPONSES]()
    doc["output"][0] |= {"content": content, "summary": summary}
    out, status = transform_json(ApiFormat.RESPONSES, json.dumps(doc).encode(), SUMMARIZE)
    assert status is None
    item = json.loads(out)["output"][0]
    assert item["summary"] == expected and "content" not in item


def test_the_middleware_answers_a_502_for_a_body_it_cannot_degrade(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = json.dumps(WHOLE["anthropic"]())[:-1] + ', "x": ' + _deep(300) + "}"

    async def messages(request: Request) -> Response:
        return Response(deep, media_type="application/json")

    config = tmp_path / "gateway.yaml"
    config.write_text(f"exchange_log: {tmp_path / 'log.jsonl'}\nlearn_in: thread\nflush_interval_s: 0.05\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    server = Starlette(routes=[Route(PATHS["anthropic"], messages, methods=["POST"])])
    server.add_middleware(DistillguardMiddleware)
    with serving(server) as base:
        httpx.put(base + "/admin/accounts/acct-x/action", json={"action": "strip_reasoning"}, headers=ADMIN)
        flagged = httpx.post(base + PATHS["anthropic"], json=REQUESTS["anthropic"],
                             headers={"x-distillguard-account": "acct-x"})
        allowed = httpx.post(base + PATHS["anthropic"], json=REQUESTS["anthropic"],
                             headers={"x-distillguard-account": "acct-y"})
    assert flagged.status_code == 502 and REASONING[:40] not in flagged.text
    assert flagged.json()["type"] == "error" and flagged.json()["error"]["type"] == "api_error"
    assert allowed.status_code == 200 and allowed.text == deep


def test_an_upstream_event_type_cannot_split_the_stream_into_events_of_its_own() -> None:
    """A Responses ``type`` holding a line break is not written as the event name (it would start new events)."""
    events: list = list(STREAMS[ApiFormat.RESPONSES]())
    name, delta = events[12]
    injected = f"{name}\n\nevent: response.reasoning_text.delta\ndata: {{\"delta\": \"{SECRET}\"}}"
    events[12] = (name, {**delta, "type": injected})
    body = sse(events)
    out = _run(ApiFormat.RESPONSES, STRIP, body, _split(body, "whole")).decode()
    assert "\nevent: response.reasoning_text.delta\ndata: {\"delta\"" not in out
    assert all(not line.startswith("data: {\"delta\": \"") for line in out.split("\n"))
