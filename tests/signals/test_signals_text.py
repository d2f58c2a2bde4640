"""The vectorised text plumbing behind the signals."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from distillguard.signals._text import Lexicon, decode, hash_word, head_tail, segment_sums, tokenize


def _token_texts(texts: list[str], cjk_bigrams: bool = False) -> list[list[int]]:
    tokens = tokenize(decode(pa.array(texts)), cjk_bigrams=cjk_bigrams)
    return [tokens.hash[tokens.row == r].tolist() for r in range(len(texts))]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, world!", ["Hello", "world"]),
        ("x_1 = \\frac{a}{b}", ["x_1", "\\frac", "a", "b"]),
        ("代码ok函数", ["代", "码", "ok", "函", "数"]),
        ("straße über", ["straße", "über"]),
        ("", []),
        ("   ", []),
    ],
)
def test_tokenize_matches_hash_word(text: str, words: list[str]) -> None:
    assert _token_texts([text])[0] == [hash_word(w) for w in words]


def test_tokens_do_not_cross_rows_and_bigrams_are_optional() -> None:
    rows = _token_texts(["ab", "cd", "", "代码"], cjk_bigrams=True)
    assert rows == [[hash_word("ab")], [hash_word("cd")], [], [hash_word("代"), hash_word("码"), hash_word("代码")]]


def test_lexicon_counts_words_in_several_classes() -> None:
    lex = Lexicon({"a": ["the", "la"], "b": ["la", "el"]})
    tokens = tokenize(decode(pa.array(["the cat and the la la", "el", ""])))
    assert lex.counts(tokens, 3).tolist() == [[4, 2], [0, 1], [0, 0]]


def test_head_tail_and_decode() -> None:
    arr = pa.array(["short", "0123456789abcdef", "ünïcödé-ünïcödé"])
    cut = head_tail(arr, 3, 2).to_pylist()
    assert cut == ["short", "012 \u2026 ef", "ünï \u2026 dé"]
    text = decode(pa.array(["a😀b", "", "é"]).slice(0, 3))
    assert text.starts.tolist() == [0, 3, 3, 4]
    assert text.cp.tolist() == [ord("a"), 0x1F600, ord("b"), ord("é")]


def test_decode_respects_slices() -> None:
    arr = pa.array(["skip", "keep", "me"]).slice(1, 2)
    text = decode(arr)
    assert "".join(map(chr, text.cp)) == "keepme"


def test_segment_sums_handles_empty_segments() -> None:
    values = np.arange(6)
    assert segment_sums(values, np.array([0, 2, 2, 6, 6])).tolist() == [1, 0, 14, 0]
    assert segment_sums(np.zeros(0, dtype=np.int64), np.array([0, 0, 0])).tolist() == [0, 0]
    assert segment_sums(values, np.array([1, 3])).tolist() == [3]  # bounds need not span it all
