from __future__ import annotations

import random

import pytest

from distillguard.sim.grammar import PhraseSet, compile_phrase, count, enumerate_all, expand


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", {"plain"}),
        ("a [[b|c]] d", {"a b d", "a c d"}),
        ("[[x|]]y", {"xy", "y"}),
        ("[[a|b [[c|d]]]]!", {"a!", "b c!", "b d!"}),
        (r"put it in \boxed{} [[now|]]", {r"put it in \boxed{} now", r"put it in \boxed{} "}),
    ],
)
def test_expansions(text: str, expected: set[str]) -> None:
    node = compile_phrase(text)
    assert set(enumerate_all(node)) == expected
    assert count(node) == len(expected)
    rng = random.Random(0)
    assert {expand(node, rng) for _ in range(200)} == expected


@pytest.mark.parametrize("bad", ["a [[b|c", "a [[b]] c]]"])
def test_unbalanced_phrase_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        compile_phrase(bad)


def test_phrase_set_picks_every_phrase() -> None:
    ps = PhraseSet(["one", "[[two|2]]"])
    rng = random.Random(1)
    assert {ps.pick(rng) for _ in range(200)} == {"one", "two", "2"}
    with pytest.raises(ValueError):
        PhraseSet([])
