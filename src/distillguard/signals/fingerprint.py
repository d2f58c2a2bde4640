"""Prompt fingerprints: template SimHash, exact template key, exact prompt hash.

What each is for:

* ``template_fp`` — *fuzzy* template identity for the campaign layer, a
  64-bit SimHash; compare with :func:`hamming64` or band it for LSH. Prompts
  from one template with a fixed prefix *and* suffix, or one system prompt,
  around varying problems land within about 3 bits of each other; unrelated
  prompts sit near 32. A row cannot tell a wrapper from its problem, so a
  wrapper on one side only, or a paraphrased wrapper, lands nearer than
  unrelated prompts but not within 3 bits (about 10-18): link those across
  rows in the campaign layer (e.g. on :func:`skeleton` prefixes).
* ``template_key`` — *exact* template identity, for ``GROUP BY`` and joins:
  equal when the masked system prompt and the masked first and last
  ``KEY_EDGE_TOKENS`` tokens of the prompt are equal.
* ``prompt_hash`` — exact repeat detection: xxh64 of the case- and
  whitespace-folded prompt. Benchmark re-runs repeat prompts; distillers
  rarely do.

Both template signals work on the prompt's *skeleton* (:func:`skeleton`):
lower-cased, with the variable parts — code blocks and inline code, LaTeX,
URLs, e-mail addresses, quoted strings, numbers, long ASCII tokens — each
replaced by one placeholder token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from distillguard.core.ids import GOLDEN_GAMMA, mix64
from distillguard.signals._shared import distinct_systems
from distillguard.signals._text import (
    Lexicon,
    Tokens,
    as_text,
    column,
    decode,
    hash_word,
    head_tail,
    tokenize,
)
from distillguard.signals.base import Batch, BatchContext, Signal, context

PLACEHOLDER = "\ue000"
#: RE2 patterns for the variable parts, applied in order; each match becomes one
#: placeholder. (One alternation of all of them is several times slower: RE2's
#: DFA blows up.) Numbers and long tokens are masked afterwards, per token.
MASK_PATTERNS: tuple[str, ...] = (
    # fenced code (also unterminated, to the end), inline code, display and inline TeX
    r"```[\s\S]*?(?:```|$)|`[^`\n]+`|\$\$[\s\S]*?\$\$|\\\[[\s\S]*?\\\]|\\\([\s\S]*?\\\)",
    r"\$[^$\n]+\$|\\[a-zA-Z]+(?:\{[^{}\n]*\})*",  # $...$, LaTeX commands like \boxed{}
    r"https?://[^\s<>\"']+|www\.[^\s<>\"']+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # URLs, e-mail
    r"\"[^\"\n]+\"|[“«「『][^”»」』\n]+[”»」』]",  # quoted strings
)
"""Bounded repetitions (``{1,300}``) are avoided on purpose: RE2 compiles the
pattern on every call and large bounded repetitions make that expensive."""
#: Tokens this long or longer (ids, hashes, base64) are masked, as are tokens
#: that start with a digit; a run of masked tokens counts as one placeholder.
LONG_TOKEN = 20
#: Characters of each end of a text kept before masking.
MASK_HEAD_CHARS = 240
MASK_TAIL_CHARS = 240
#: Tokens from each end of the skeleton that enter the SimHash, and its decay.
SIMHASH_EDGE_TOKENS = 10
SIMHASH_DECAY_TOKENS = 3.0
#: Weight of the system prompt's SimHash against the prompt's: when there is one,
#: the system prompt is the strongest evidence of a shared harness.
SYSTEM_WEIGHT = 8
#: Words of instructions to a model (as opposed to the problem a template wraps),
#: in the eight languages of the seed set; CJK as single characters. Shingles
#: that start with one weigh double.
INSTRUCTION_WORDS = (
    "answer answers final step steps think thinking reason reasoning solve solution problem "
    "question following below above given explain explanation show write return put box boxed "
    "response respond reply output format please provide give detailed carefully careful work "
    "chain thought thoughts process verify check first then end line must should you your "
    "assistant user task instruction instructions only include use using make sure correct "
    "choose best option options letter choice complete implement generate executable input "
    "standard stdin stdout json markdown tag tags wrap within inside between before after "
    "begin start let lets let's rationale derivation justify brief concise "
    "respuesta paso pasos piensa razona razonamiento resuelve problema explica muestra final "
    "antwort schritt schritte denke löse aufgabe erkläre zeige bitte endgültige "
    "réponse étape étapes réfléchis raisonne résous problème explique montre finale "
    "ответ шаг шагам подумай рассуждай реши решение задачу задача итоговый объясни покажи "
    "请 答 案 步 骤 思 考 推 理 解 题 最 终 格 式 输 出 释 详 细 写 给 回 "
    "答え ください ステップ 考 推 論 問 題 最 終 回 説 明 "
    "답 단계 생각 추론 문제 최종 답변 설명 주세요"
).split()
_INSTRUCTIONS = Lexicon({"instruction": INSTRUCTION_WORDS})
#: Tokens from each end of the prompt skeleton that make up its "wrapper" in the exact key.
KEY_EDGE_TOKENS = 6
_P = np.uint64(0x100000001B3)


def _mask(texts: pa.Array, head: int, tail: int) -> pa.StringArray:
    arr = pc.utf8_lower(head_tail(as_text(texts), head, tail))
    for pattern in MASK_PATTERNS:
        arr = pc.replace_substring_regex(arr, pattern, f" {PLACEHOLDER} ")
    return arr


def skeleton(texts: pa.Array, head: int = MASK_HEAD_CHARS, tail: int = MASK_TAIL_CHARS) -> pa.StringArray:
    """The masked, lower-cased, whitespace-folded skeleton of each text (nulls as empty).

    Only the first ``head`` and last ``tail`` characters are kept. Numbers
    become the placeholder too (the signals mask them per token instead).
    """
    arr = pc.replace_substring_regex(_mask(texts, head, tail), r"\d+(?:[.,:/]\d+)*", PLACEHOLDER)
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " "))


_PLACEHOLDER_HASH = np.uint64(hash_word(PLACEHOLDER))


def _skeleton_tokens(texts: pa.Array) -> Tokens:
    """Tokens of the skeletons, with numbers and long tokens masked and placeholder runs folded."""
    text = decode(_mask(texts, MASK_HEAD_CHARS, MASK_TAIL_CHARS))
    tokens = tokenize(text)
    if len(tokens) == 0:
        return tokens
    first = text.cp[tokens.start]
    variable = ((first >= 0x30) & (first <= 0x39)) | (tokens.length >= LONG_TOKEN)
    h = np.where(variable, _PLACEHOLDER_HASH, tokens.hash)
    is_ph = h == _PLACEHOLDER_HASH
    repeat = np.zeros(len(h), dtype=bool)
    repeat[1:] = is_ph[1:] & is_ph[:-1] & (tokens.row[1:] == tokens.row[:-1])
    keep = ~repeat
    row = tokens.row[keep]
    n_per_row = np.bincount(row, minlength=text.n_rows).astype(np.int64)
    firsts = np.zeros(text.n_rows + 1, dtype=np.int64)
    np.cumsum(n_per_row, out=firsts[1:])
    rank = np.arange(len(row), dtype=np.int64) - firsts[row]
    return Tokens(h[keep], row, tokens.start[keep], tokens.length[keep], rank, n_per_row)


def _edge_distance(tokens: Tokens) -> np.ndarray:
    n = tokens.n_per_row[tokens.row]
    return np.minimum(tokens.rank, n - 1 - tokens.rank)


#: ``(v * _SPREAD_MUL) & _LANE_BITS`` puts bit ``t`` of a nibble ``v`` in 16-bit lane ``t``: the product
#: holds copies of ``v`` shifted by 0, 15, 30 and 45 bits (no carries: 4 < 15), and bit ``t`` of the copy
#: shifted by ``15 t`` is the only bit that lands on ``16 t``.
_SPREAD_MUL = np.uint64(1 | 1 << 15 | 1 << 30 | 1 << 45)
_LANE_BITS = np.uint64(1 | 1 << 16 | 1 << 32 | 1 << 48)
_NIBBLE = np.uint64(0xF)
_NIBBLE_SHIFTS = tuple(np.uint64(4 * j) for j in range(16))
#: Shingle weights are quantised to integers 0..2*WEIGHT_SCALE, so that the
#: weighted bit counts of a row (at most 4 * SIMHASH_EDGE_TOKENS shingles)
#: add up exactly in 16-bit lanes.
WEIGHT_SCALE = 32
if (4 * SIMHASH_EDGE_TOKENS) * 2 * WEIGHT_SCALE >= 1 << 16:  # pragma: no cover - constants check
    raise ValueError("SIMHASH_EDGE_TOKENS * WEIGHT_SCALE too large for 16-bit SimHash lanes")


def _lane_sums(hashes: np.ndarray, weight: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``(len(first), 16)`` uint64: per segment starting at ``first``, the weighted sums of each nibble's bits
    of ``hashes``, bit ``t`` of nibble ``j`` in 16-bit lane ``t`` of column ``j``.

    One nibble position at a time, on 1-D arrays that stay in cache (several times faster than a
    ``(m, 16)`` table lookup and a 2-D ``reduceat``).
    """
    out = np.empty((16, len(first)), dtype=np.uint64)
    v = np.empty(len(hashes), dtype=np.uint64)
    for j, shift in enumerate(_NIBBLE_SHIFTS):
        np.right_shift(hashes, shift, out=v)
        v &= _NIBBLE
        v *= _SPREAD_MUL
        v &= _LANE_BITS
        v *= weight
        np.add.reduceat(v, first, out=out[j])
    return out.T


def simhash_counts(tokens: Tokens, n_rows: int) -> np.ndarray:
    """Per-row SimHash accumulators, shape ``(n_rows, 64)`` int64: bit ``k`` is set where positive.

    Shingles are the tokens and pairs of adjacent tokens among the
    ``SIMHASH_EDGE_TOKENS`` nearest each end of the text; a shingle weighs
    ``round(32 * exp(-d / SIMHASH_DECAY_TOKENS))`` where ``d`` is the token's
    distance to the nearest end, so the fixed wrapper at the edges outweighs
    the varying problem in the middle, doubled when the token is one of
    :data:`INSTRUCTION_WORDS`. The accumulator of bit ``k`` is the weight of
    the shingles with bit ``k`` set minus that of the others.

    Computed with packed counters instead of a 64-wide array per shingle: each
    hash nibble is spread into four 16-bit lanes of a uint64, scaled by the
    weight, and summed per row (:func:`_lane_sums`).
    """
    out = np.zeros((n_rows, 64), dtype=np.int64)
    if len(tokens) == 0:
        return out
    d = _edge_distance(tokens)
    keep = d < SIMHASH_EDGE_TOKENS
    weight = np.rint(WEIGHT_SCALE * np.exp(-d / SIMHASH_DECAY_TOKENS)).astype(np.uint64)
    h, row = tokens.hash, tokens.row
    weight <<= (_INSTRUCTIONS.member(h) > 0).astype(np.uint64)
    pair = np.flatnonzero(keep[:-1] & keep[1:] & (row[:-1] == row[1:]))
    uni = np.flatnonzero(keep)
    counts = np.zeros((n_rows, 16), dtype=np.uint64)
    total = np.zeros(n_rows, dtype=np.int64)
    # unigram and bigram shingles, each already in row order
    for sel, hashes in ((uni, h[uni]), (pair, mix64((h[pair] * _P) ^ h[pair + 1]))):
        if len(sel) == 0:
            continue
        rows, w = row[sel], weight[sel]
        first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts[rows[first]] += _lane_sums(hashes, w, first)
        total += np.bincount(rows, weights=w, minlength=n_rows).astype(np.int64)
    set_weight = counts.view(np.uint16).reshape(n_rows, 64).astype(np.int64)
    return 2 * set_weight - total[:, None]


def _pack(acc: np.ndarray) -> np.ndarray:
    bits = (acc > 0).astype(np.uint8)
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64).reshape(-1)


def hamming64(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Bit distance between 64-bit fingerprints, vectorised with broadcasting."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    return np.bitwise_count(x).astype(np.int64)


def sequence_keys(tokens: Tokens, n_rows: int, edge: int | None) -> np.ndarray:
    """An order-sensitive 64-bit hash per row of its tokens (all, or the ``edge`` nearest each end)."""
    out = np.zeros(n_rows, dtype=np.uint64)
    if len(tokens) == 0:
        return mix64(out)
    n = tokens.n_per_row[tokens.row]
    if edge is None:
        keep = np.ones(len(tokens), dtype=bool)
        pos = tokens.rank
    else:
        keep = _edge_distance(tokens) < edge
        # head tokens by rank, tail tokens by distance from the end (offset apart)
        pos = np.where(tokens.rank < edge, tokens.rank, (1 << 20) + (n - 1 - tokens.rank))
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return mix64(out)
    vals = mix64(tokens.hash[idx] ^ (pos[idx].astype(np.uint64) * GOLDEN_GAMMA))
    rows = tokens.row[idx]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    out[rows[first]] = np.add.reduceat(vals, first)
    counts = np.bincount(rows, minlength=n_rows).astype(np.uint64)
    return mix64(out + counts * GOLDEN_GAMMA)


def _null_mask(*arrays: pa.Array) -> np.ndarray:
    mask = np.ones(len(arrays[0]), dtype=bool)
    for arr in arrays:
        mask &= pc.is_null(arr).to_numpy(zero_copy_only=False)
    return mask


def _shared_tokens(ctx: BatchContext) -> tuple[Tokens, Tokens, np.ndarray]:
    """Skeleton tokens of the prompts, of the distinct system prompts, and each row's system index."""

    def build() -> tuple[Tokens, Tokens, np.ndarray]:
        systems, sys_idx = distinct_systems(ctx.batch, ctx)
        prompt_tokens = _skeleton_tokens(column(ctx.batch, "prompt"))
        return prompt_tokens, _skeleton_tokens(systems), sys_idx

    return ctx.get("fingerprint.tokens", build)


@dataclass(frozen=True)
class TemplateFingerprintSignal(Signal):
    """64-bit SimHash of the masked skeleton of system prompt + prompt edges (uint64).

    Prompts from one template collapse to identical or nearby fingerprints
    (compare with :func:`hamming64`); null when system and prompt are both null.
    See :func:`simhash_counts` and the module doc.
    """

    name: str = "template_fp"
    inputs = ("prompt", "system")
    dtype: pa.DataType = pa.uint64()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        prompt_tokens, system_tokens, sys_idx = _shared_tokens(context(batch, ctx))
        n = batch.num_rows
        acc = simhash_counts(prompt_tokens, n)
        if len(system_tokens):
            acc += SYSTEM_WEIGHT * simhash_counts(system_tokens, system_tokens.n_rows)[sys_idx]
        prompt, system = column(batch, "prompt"), column(batch, "system")
        return pa.array(_pack(acc), type=self.dtype, mask=_null_mask(prompt, system))


@dataclass(frozen=True)
class TemplateKeySignal(Signal):
    """Exact 64-bit key of the template (uint64): masked system prompt + prompt wrapper.

    The wrapper is the first and last ``KEY_EDGE_TOKENS`` tokens of the
    prompt's skeleton (all of it when shorter); null when system and prompt
    are both null.
    """

    name: str = "template_key"
    inputs = ("prompt", "system")
    dtype: pa.DataType = pa.uint64()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        prompt_tokens, system_tokens, sys_idx = _shared_tokens(context(batch, ctx))
        n = batch.num_rows
        pkey = sequence_keys(prompt_tokens, n, KEY_EDGE_TOKENS)
        skey = sequence_keys(system_tokens, system_tokens.n_rows, None)
        key = mix64((skey[sys_idx] * _P) ^ pkey) if n else np.zeros(0, dtype=np.uint64)
        prompt, system = column(batch, "prompt"), column(batch, "system")
        return pa.array(key, type=self.dtype, mask=_null_mask(prompt, system))


def fold_hash(text: str) -> int:
    """xxh64 of ``text`` lower-cased with whitespace runs folded to one space and trimmed."""
    return xxhash.xxh64_intdigest(" ".join(text.lower().split()).encode("utf-8"))


@dataclass(frozen=True)
class PromptHashSignal(Signal):
    """xxh64 of the case- and whitespace-folded prompt (uint64); null when the prompt is null."""

    name: str = "prompt_hash"
    inputs = ("prompt",)
    dtype: pa.DataType = pa.uint64()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        prompt = column(batch, "prompt").cast(pa.string())
        values = [None if s is None else fold_hash(s) for s in prompt.to_pylist()]
        return pa.array(values, type=self.dtype)
