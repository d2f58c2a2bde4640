"""Reasoning summarisers: pluggable, the default extractive, local and deterministic."""

from __future__ import annotations

import re
from collections import Counter
from typing import Protocol

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n{2,}|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_WORD = re.compile(r"\w+", re.UNICODE)


class Summarizer(Protocol):
    """Turns a reasoning trace into a short summary that gives away less of it."""

    def summarize(self, reasoning: str) -> str:
        """The summary of ``reasoning`` (empty for an empty trace)."""
        ...


class ExtractiveSummarizer:
    """Keeps the few sentences whose words recur most across the trace, in their order.

    Sentences are scored by the mean document frequency of their words (a word
    that appears in many sentences is what the trace is about); the top ones
    fill at most ``max_chars`` characters and are output in their original
    order. The intermediate steps, which a distiller wants, are what is dropped.
    """

    def __init__(self, max_chars: int = 300, max_sentences: int = 2) -> None:
        if max_chars < 20 or max_sentences < 1:
            raise ValueError("max_chars must be at least 20 and max_sentences at least 1")
        self.max_chars = max_chars
        self.max_sentences = max_sentences

    def summarize(self, reasoning: str) -> str:
        """The summary of ``reasoning``: at most ``max_sentences`` sentences and ``max_chars`` characters."""
        sentences = list(dict.fromkeys(s.strip() for s in _SENTENCE.split(reasoning) if s and s.strip()))
        if not sentences:
            return ""
        words = [{w.lower() for w in _WORD.findall(s)} for s in sentences]
        frequency = Counter(w for ws in words for w in ws)
        def score(i: int) -> float:
            return sum(frequency[w] for w in words[i]) / (len(words[i]) + 1)
        ranked = sorted(range(len(sentences)), key=lambda i: (-score(i), i))
        chosen: list[int] = []
        used = 0
        for i in ranked:
            if len(chosen) == self.max_sentences:
                break
            length = len(sentences[i]) + (1 if chosen else 0)
            if used + length <= self.max_chars:
                chosen.append(i)
                used += length
        if not chosen:
            return _clip(sentences[ranked[0]], self.max_chars)
        return " ".join(sentences[i] for i in sorted(chosen))


def _clip(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"
