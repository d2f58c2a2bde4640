"""Template fingerprints, template keys, prompt hashes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_fixtures import prompts_batch

from distillguard.core.ids import mix64
from distillguard.signals import SIGNALS, hamming64, skeleton
from distillguard.signals import fingerprint as fp

# Fifty different word problems, written for this test.
NAMES = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jin"]
ITEMS = ["apples", "marbles", "stamps", "books", "coins"]
PROBLEMS = [
    f"{NAMES[i % 10]} has {3 + i} {ITEMS[i % 5]} and buys {2 * i + 1} more at the market on "
    f"{['Monday', 'Friday', 'Sunday'][i % 3]}, then gives a third of them to a friend who "
    f"{['lives next door', 'is saving for a bike', 'collects them'][i % 3]}. How many are left?"
    for i in range(50)
]
WRAPPERS = {
    "prefix and suffix": "Solve the following math problem carefully.\n\nProblem: {p}\n\n"
    "Think step by step and put your final answer within \\boxed{{}}.",
    "question/answer harness": "### Instruction\nAnswer the question below with a worked solution.\n"
    "### Question\n{p}\n### Answer format\nEnd with 'The final answer is N'.",
}
SYSTEM = "You are a meticulous tutor. Reason step by step inside <think> tags, then answer in \\boxed{}."


def _fingerprints(prompts: list[str], systems: list[str | None] | None = None) -> np.ndarray:
    return SIGNALS["template_fp"](prompts_batch(prompts, systems)).to_numpy()


def _pairwise(f: np.ndarray) -> np.ndarray:
    return hamming64(f[:, None], f[None, :])[np.triu_indices(len(f), 1)]


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_one_wrapper_collapses(wrapper: str) -> None:
    f = _fingerprints([WRAPPERS[wrapper].format(p=p) for p in PROBLEMS])
    assert _pairwise(f).max() <= 3


def test_one_system_prompt_collapses() -> None:
    f = _fingerprints(PROBLEMS, [SYSTEM] * len(PROBLEMS))
    assert _pairwise(f).max() <= 5
    assert np.median(_pairwise(f)) <= 3


def test_different_templates_are_far_apart() -> None:
    a = _fingerprints([WRAPPERS["prefix and suffix"].format(p=p) for p in PROBLEMS])
    b = _fingerprints([WRAPPERS["question/answer harness"].format(p=p) for p in PROBLEMS])
    assert hamming64(a[:, None], b[None, :]).min() >= 12
    raw = _fingerprints(PROBLEMS)
    assert np.median(_pairwise(raw)) >= 16  # no template: about as far as random


def test_masked_parts_do_not_change_the_fingerprint_or_key() -> None:
    prompts = [
        'Convert "hello world" to upper case: see https://example.com/a?b=1 and $x^2+1$, 3.5 kg, `code`.',
        'Convert "good bye" to upper case: see https://example.org/z and $\\frac{a}{b}$, 12 kg, `x = 1`.',
    ]
    batch = prompts_batch(prompts)
    assert len(set(SIGNALS["template_fp"](batch).to_pylist())) == 1
    assert len(set(SIGNALS["template_key"](batch).to_pylist())) == 1
    assert skeleton(pa.array(prompts[:1])).to_pylist()[0].startswith(f"convert {fp.PLACEHOLDER} to upper")


def test_template_key_groups_wrapper_edges_exactly() -> None:
    wrapped = [WRAPPERS["prefix and suffix"].format(p=p) for p in PROBLEMS[:10]]
    keys = SIGNALS["template_key"](prompts_batch(wrapped)).to_pylist()
    assert len(set(keys)) == 1
    other = SIGNALS["template_key"](prompts_batch(["Please solve: " + PROBLEMS[0]])).to_pylist()
    assert other[0] != keys[0]


def _brute_force_simhash(tokens: fp.Tokens) -> np.ndarray:
    """The SimHash accumulators of :func:`fp.simhash_counts`, one shingle and one bit at a time."""
    d = fp._edge_distance(tokens)
    weight = np.rint(fp.WEIGHT_SCALE * np.exp(-d / fp.SIMHASH_DECAY_TOKENS))
    weight *= 1 + (fp._INSTRUCTIONS.member(tokens.hash) > 0)
    keep = d < fp.SIMHASH_EDGE_TOKENS
    expected = np.zeros((tokens.n_rows, 64))
    for i in np.flatnonzero(keep):
        shingles = [tokens.hash[i]]
        if i + 1 < len(tokens) and keep[i + 1] and tokens.row[i + 1] == tokens.row[i]:
            pair = (tokens.hash[i : i + 1] * fp._P) ^ tokens.hash[i + 1 : i + 2]
            shingles.append(mix64(pair)[0])
        for h in shingles:
            bits = ((np.uint64(h) >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)
            expected[tokens.row[i]] += weight[i] * (2 * bits - 1)
    return expected


def test_simhash_matches_a_brute_force_simhash() -> None:
    tokens = fp._skeleton_tokens(pa.array([WRAPPERS["prefix and suffix"].format(p=p) for p in PROBLEMS[:8]]))
    assert np.array_equal(fp.simhash_counts(tokens, tokens.n_rows), _brute_force_simhash(tokens))


_ODD_TEXT = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=300),
    st.lists(st.sampled_from(["Solve", "the", "step", "答", "\\boxed{}", "42", "x" * 30, "  ", "\n", "Ünï"]),
             max_size=400).map(" ".join),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ODD_TEXT, max_size=12))
def test_simhash_matches_brute_force_on_odd_prompts(prompts: list[str | None]) -> None:
    tokens = fp._skeleton_tokens(pa.array(prompts, pa.string()))
    assert np.array_equal(fp.simhash_counts(tokens, len(prompts)), _brute_force_simhash(tokens))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("What is  the capital\nof France?", "what is the CAPITAL of france?", True),
        ("  padded  ", "padded", True),
        ("What is the capital of France?", "What is the capital of Spain?", False),
        ("", "", True),
    ],
)
def test_prompt_hash_folds_case_and_whitespace(a: str, b: str, same: bool) -> None:
    h = SIGNALS["prompt_hash"](prompts_batch([a, b])).to_pylist()
    assert (h[0] == h[1]) is same
    assert h[0] == fp.fold_hash(a)


def test_hamming64_is_vectorised() -> None:
    a = np.array([0, 0xFF, 2**64 - 1], dtype=np.uint64)
    assert hamming64(a, np.uint64(0)).tolist() == [0, 8, 64]
    assert hamming64(a[:, None], a[None, :]).shape == (3, 3)
    assert hamming64(5, 6).tolist() == 2
