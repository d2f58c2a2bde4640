"""A tiny phrase grammar: ``[[a|b|c]]`` picks one alternative, nestable.

An empty alternative makes a part optional (``[[please |]]``). Phrase files
are compiled once; expansion is a cheap walk with a ``random.Random``.
"""

from __future__ import annotations

import random
from typing import Union

Node = Union[str, "Choice", "Seq"]


class Seq(tuple):
    """A sequence of nodes, concatenated."""


class Choice(tuple):
    """Alternatives (each a :class:`Seq`); one is picked."""


def compile_phrase(text: str) -> Node:
    """Parse ``text`` into a node; plain text without ``[[`` stays a ``str``."""
    if "[[" not in text:
        return text
    return _parse_seq(text, 0, top=True)[0]


def _parse_seq(text: str, pos: int, top: bool) -> tuple[Seq, int]:
    parts: list[Node] = []
    buf: list[str] = []
    n = len(text)
    while pos < n:
        if text.startswith("[[", pos):
            if buf:
                parts.append("".join(buf))
                buf = []
            alts: list[Seq] = []
            pos += 2
            while True:
                seq, pos = _parse_seq(text, pos, top=False)
                alts.append(seq)
                if pos >= n:
                    raise ValueError(f"unclosed '[[' in phrase: {text[:80]!r}")
                if text[pos] == "|":
                    pos += 1
                    continue
                pos += 2  # "]]"
                break
            parts.append(Choice(alts))
        elif text.startswith("]]", pos) or (not top and text[pos] == "|"):
            if top:
                raise ValueError(f"unbalanced ']]' in phrase: {text[:80]!r}")
            break
        else:
            buf.append(text[pos])
            pos += 1
    if buf:
        parts.append("".join(buf))
    return Seq(parts), pos


def expand(node: Node, rng: random.Random) -> str:
    """Return one expansion of ``node``."""
    if isinstance(node, str):
        return node
    if isinstance(node, Choice):
        return expand(node[int(rng.random() * len(node))], rng)
    return "".join([expand(part, rng) for part in node])


MAX_ENUMERATED = 4096


def count(node: Node) -> int:
    """How many distinct expansions ``node`` has (as a product/sum over its choices)."""
    if isinstance(node, str):
        return 1
    if isinstance(node, Choice):
        return sum(count(alt) for alt in node)
    total = 1
    for part in node:
        total *= count(part)
    return total


def enumerate_all(node: Node) -> list[str]:
    """Every expansion of ``node`` (use only when :func:`count` is small)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, Choice):
        return [text for alt in node for text in enumerate_all(alt)]
    out = [""]
    for part in node:
        out = [a + b for a in out for b in enumerate_all(part)]
    return out


class PhraseSet:
    """A list of compiled phrases; ``pick`` expands a random one.

    Phrases with few expansions are enumerated once, so picking is one draw.
    """

    __slots__ = ("nodes",)

    def __init__(self, phrases: list[str]) -> None:
        if not phrases:
            raise ValueError("empty phrase list")
        nodes: list[Node | list[str]] = []
        for p in phrases:
            node = compile_phrase(p)
            nodes.append(enumerate_all(node) if count(node) <= MAX_ENUMERATED else node)
        self.nodes = nodes

    def pick(self, rng: random.Random) -> str:
        """Expand one phrase chosen uniformly."""
        node = self.nodes[int(rng.random() * len(self.nodes))]
        if type(node) is list:
            return node[int(rng.random() * len(node))]
        return expand(node, rng)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.nodes)
