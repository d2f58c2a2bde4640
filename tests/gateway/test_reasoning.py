import json
import random

import pytest
from gwshapes import ANSWER, REASONING, STREAMS, WHOLE, sse

from distillguard.core.api import ApiFormat
from distillguard.gateway.capture import collect_stream
from distillguard.gateway.reasoning import Degradation, ReasoningTransform, stream_transformer, transform_json
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
    out = transform_json(api, body, STRIP)
    assert REASONING not in out.decode() and "ENCRYPTED" not in out.decode() and "gAAAA" not in out.decode()
    assert ANSWER in out.decode()
    for key in (b'"thinking"', b'"reasoning_content"', b'"type":"reasoning"', b'"redacted_thinking"'):
        assert key not in out


@pytest.mark.parametrize("api", APIS)
def test_json_summarize_puts_the_summary_in_place(api: ApiFormat) -> None:
    doc = json.loads(transform_json(api, json.dumps(WHOLE[api]()).encode(), SUMMARIZE))
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
    assert transform_json(api, body, STRIP) == body


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
