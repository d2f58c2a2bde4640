"""Vectorised text plumbing shared by the signals.

Everything here works on whole Arrow string columns at once: Arrow compute for
slicing and case folding, then one UTF-8 decode of the batch into a flat
numpy array of code points (:class:`CodePoints`) on which the signals hash
character n-grams and words without a Python loop per row.

Token hashes are polynomial hashes modulo 2**32 (cheap to vectorise), widened
by the SplitMix64 finaliser (:func:`~distillguard.core.ids.mix64`);
:func:`hash_words` gives the same values for a list of words, so lexicons are
hashed exactly as the batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.core.ids import mix64

_MASK32 = (1 << 32) - 1
_P = 0x01000193  # FNV-32 prime: odd, hence invertible modulo 2**32
_P_INV = pow(_P, -1, 1 << 32)
_MAX_SLICE = 2**31 - 1

# Code point ranges (inclusive) of the scripts the signals care about.
HANGUL_RANGES = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF))
KANA_RANGES = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F))
HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
CYRILLIC_RANGES = ((0x0400, 0x04FF),)


# --------------------------------------------------------------------------- columns


def column(batch: pa.Table | pa.RecordBatch, name: str) -> pa.Array:
    """Return one column of ``batch`` as a single (unchunked) array."""
    if name not in batch.schema.names:
        raise ValueError(f"signal input batch has no column {name!r}")
    col = batch.column(name)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def text_column(batch: pa.Table | pa.RecordBatch, name: str) -> pa.StringArray:
    """Return a string column with nulls as empty strings, as ``pa.string()``."""
    return as_text(column(batch, name))


def as_text(arr: pa.Array) -> pa.StringArray:
    """Cast any string-like array to a non-null ``pa.string()`` array."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    return arr


def head_tail(arr: pa.StringArray, head: int, tail: int, sep: str = " \u2026 ") -> pa.StringArray:
    """Keep the first ``head`` and last ``tail`` code points of each long string.

    Strings no longer than ``head + tail`` are returned whole; longer ones become
    ``head part + sep + tail part``.
    """
    if len(arr) == 0:
        return arr
    too_long = pc.greater(pc.utf8_length(arr), head + tail)
    longs = pc.filter(arr, too_long)
    if len(longs) == 0:
        return arr
    cut = pc.utf8_slice_codeunits(longs, 0, head)
    if tail > 0:
        cut = pc.binary_join_element_wise(cut, pc.utf8_slice_codeunits(longs, -tail, _MAX_SLICE), sep)
    return pc.replace_with_mask(arr, too_long, cut)


def unique_index(arr: pa.StringArray) -> tuple[pa.StringArray, np.ndarray]:
    """Return the distinct values of ``arr`` and, per row, the index of its value."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return as_text(enc.dictionary), enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


# --------------------------------------------------------------------------- code points


@dataclass(frozen=True, slots=True)
class CodePoints:
    """A batch of strings as one flat code point array.

    ``cp[starts[i]:starts[i + 1]]`` holds the code points of row ``i``.
    """

    cp: np.ndarray  # uint32
    starts: np.ndarray  # int64, length n_rows + 1

    @property
    def n_rows(self) -> int:
        return len(self.starts) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def row_ids(self) -> np.ndarray:
        """Row index of every code point (int32)."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int32), self.lengths)


def decode(arr: pa.StringArray) -> CodePoints:
    """Decode a non-null string array into :class:`CodePoints` in two C passes."""
    arr = as_text(arr)
    n = len(arr)
    lengths = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    if n == 0 or starts[-1] == 0:
        return CodePoints(np.zeros(0, dtype=np.uint32), starts)
    offsets_buf, data_buf = arr.buffers()[1], arr.buffers()[2]
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1]
    raw = memoryview(data_buf)[int(offsets[0]) : int(offsets[-1])]
    text = bytes(raw).decode("utf-8", errors="replace")
    cp = np.frombuffer(text.encode("utf-32-le", errors="replace"), dtype=np.uint32)
    if len(cp) != starts[-1]:  # invalid UTF-8 made the replacement change lengths
        rows = [s.encode("utf-32-le", errors="replace") for s in arr.to_pylist()]
        lengths = np.array([len(r) // 4 for r in rows], dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        cp = np.frombuffer(b"".join(rows), dtype=np.uint32)
    return CodePoints(cp, starts)


def segment_sums(values: np.ndarray, bounds: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """Sums of ``values[bounds[i]:bounds[i + 1]]`` for sorted ``bounds`` (empty segments sum to 0).

    ``np.add.reduceat`` with the empty-segment and end-of-array cases fixed; it
    is several times faster than differencing a cumulative sum.
    """
    k = len(bounds) - 1
    dtype = dtype or values.dtype
    out = np.zeros(max(k, 0), dtype=dtype)
    if k <= 0:
        return out
    end = int(bounds[-1])
    # segments that start before the end; the last of them runs to ``end``
    m = int(np.searchsorted(bounds[:-1], end, side="left"))
    if m:
        out[:m] = np.add.reduceat(values[:end], bounds[:m], dtype=dtype)
    out[bounds[1:] <= bounds[:-1]] = 0
    return out


def row_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (bool or small ints, one per code point) per row, as int64."""
    return segment_sums(values, starts, np.int64)


def in_ranges(cp: np.ndarray, ranges: Iterable[tuple[int, int]]) -> np.ndarray:
    """Boolean mask of the code points that fall in any of the inclusive ``ranges``."""
    out = np.zeros(cp.shape, dtype=bool)
    for lo, hi in ranges:
        out |= (cp >= lo) & (cp <= hi)
    return out


_WORD = 1
_CJK = 2


def _char_class_table() -> np.ndarray:
    """Flags per BMP code point: ``_WORD`` for word characters, ``_CJK`` for Han/kana/Hangul.

    Word characters are letters, digits, ``_``, ``#`` and ``\\`` (LaTeX
    commands), approximated by exclusion: not ASCII whitespace/punctuation,
    Latin-1 punctuation, general punctuation (U+2000-206F), CJK punctuation
    (U+3000-303F), full-width punctuation or the private-use placeholder range.
    """
    cp = np.arange(0x10000, dtype=np.uint32)
    ascii_word = (
        ((cp >= 0x30) & (cp <= 0x39))
        | ((cp >= 0x41) & (cp <= 0x5A))
        | ((cp >= 0x61) & (cp <= 0x7A))
        | np.isin(cp, [0x5F, 0x23, 0x5C])
    )
    punct_high = (
        ((cp >= 0x2000) & (cp <= 0x206F))
        | ((cp >= 0x3000) & (cp <= 0x303F))
        | ((cp >= 0xFF00) & (cp <= 0xFF0F))
        | ((cp >= 0xFF1A) & (cp <= 0xFF20))
        | ((cp >= 0xFF3B) & (cp <= 0xFF40))
        | ((cp >= 0xFF5B) & (cp <= 0xFF65))
        | np.isin(cp, [0xD7, 0xF7])
    )
    word = ascii_word | ((cp >= 0xC0) & ~punct_high)
    cjk = word & (in_ranges(cp, HAN_RANGES) | in_ranges(cp, KANA_RANGES) | in_ranges(cp, HANGUL_RANGES))
    table = (word * _WORD + cjk * _CJK).astype(np.uint8)
    table.flags.writeable = False
    return table


_CHAR_CLASS = _char_class_table()


def char_class(cp: np.ndarray) -> np.ndarray:
    """Flags (``_WORD``, ``_CJK``) per code point; beyond the BMP everything is a word character."""
    flags = _CHAR_CLASS[np.minimum(cp, 0xFFFF)]
    if len(cp) and cp.max() > 0xFFFF:
        flags = np.where(cp > 0xFFFF, np.uint8(_WORD), flags)
    return flags


def is_word_char(cp: np.ndarray) -> np.ndarray:
    """Letters, digits, ``_``, ``#`` and ``\\`` (see :func:`_char_class_table`)."""
    return (char_class(cp) & _WORD).astype(bool)


def is_cjk(cp: np.ndarray) -> np.ndarray:
    """Han, kana and Hangul code points."""
    return (char_class(cp) & _CJK).astype(bool)


# --------------------------------------------------------------------------- hashing


def hash_words(words: Iterable[str]) -> np.ndarray:
    """Hash tokens exactly as :func:`tokenize` hashes them in a batch (uint64)."""
    polys = []
    for word in words:
        h = 0
        for ch in word:
            h = (h * _P + ord(ch)) & _MASK32
        polys.append(h)
    return mix64(np.array(polys, dtype=np.uint64))


def hash_word(word: str) -> int:
    """Hash one token exactly as :func:`tokenize` hashes it in a batch."""
    return int(hash_words([word])[0])


@functools.lru_cache(maxsize=4)
def _powers(base: int, n: int) -> np.ndarray:
    """``base**j mod 2**32`` for ``j < n`` (read-only; cached: a per-process constant)."""
    out = np.full(n, base, dtype=np.uint32)
    if n:
        out[0] = 1
    out = np.cumprod(out, dtype=np.uint32)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens of a :class:`CodePoints` batch, in row and position order.

    ``hash`` is :func:`hash_word` of the token text, ``row`` its row, ``start``
    its first code point (global index into ``CodePoints.cp``), ``length`` its
    number of code points and ``rank`` its position among the row's tokens
    (0-based; -1 for CJK bigrams, which follow all other tokens). ``n_per_row``
    counts the tokens of each row, bigrams excluded.
    """

    hash: np.ndarray  # uint64
    row: np.ndarray  # int32
    start: np.ndarray  # int64
    length: np.ndarray  # int64
    rank: np.ndarray  # int64
    n_per_row: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.hash)

    @property
    def n_rows(self) -> int:
        return len(self.n_per_row)


def tokenize(text: CodePoints, cjk_bigrams: bool = False) -> Tokens:
    """Split every row into word tokens and hash them, vectorised.

    A token is a maximal run of word characters (:func:`is_word_char`); each
    Han, kana or Hangul character is a token of its own. With ``cjk_bigrams``
    every pair of adjacent such characters is emitted too, after all the
    other tokens (for lexicon look-ups of two-character words).
    """
    cp, starts = text.cp, text.starts
    n_rows = text.n_rows
    parts: list[tuple[np.ndarray, ...]] = []
    row = 0
    while row < n_rows:  # row groups of about _CHUNK code points bound the temporaries
        limit = int(np.searchsorted(starts, starts[row] + _CHUNK, side="right")) - 1
        stop = min(max(limit, row + 1), n_rows)
        lo, hi = int(starts[row]), int(starts[stop])
        if hi > lo:
            parts.append(_tokenize_span(cp[lo:hi], starts[row : stop + 1] - lo, lo, cjk_bigrams))
        row = stop
    if parts:
        h, s_idx, length, bh, b_idx = (np.concatenate([p[k] for p in parts]) for k in range(5))
    else:
        h, bh = np.zeros(0, np.uint32), np.zeros(0, np.uint32)
        s_idx, length, b_idx = (np.zeros(0, np.int64) for _ in range(3))
    tok_row = (np.searchsorted(starts, s_idx, side="right") - 1).astype(np.int32)
    n_per_row = np.bincount(tok_row, minlength=n_rows).astype(np.int64)
    first = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(n_per_row, out=first[1:])
    rank = np.arange(len(tok_row), dtype=np.int64) - first[tok_row]
    if cjk_bigrams and len(b_idx):
        b_row = (np.searchsorted(starts, b_idx, side="right") - 1).astype(np.int32)
        h = np.concatenate([h, bh])
        tok_row = np.concatenate([tok_row, b_row])
        s_idx = np.concatenate([s_idx, b_idx])
        length = np.concatenate([length, np.full(len(b_idx), 2, dtype=np.int64)])
        rank = np.concatenate([rank, np.full(len(b_idx), -1, dtype=np.int64)])
    return Tokens(mix64(h.astype(np.uint64)), tok_row, s_idx, length, rank, n_per_row)


_CHUNK = 1 << 16


def _tokenize_span(
    cp: np.ndarray, starts: np.ndarray, offset: int, cjk_bigrams: bool
) -> tuple[np.ndarray, ...]:
    """Raw 32-bit hashes, global starts and lengths of the tokens (and CJK bigrams) of a group of rows."""
    n = len(cp)
    flags = char_class(cp)
    word = (flags & _WORD).astype(bool)
    cjk = (flags & _CJK).astype(bool)
    row_start = np.zeros(n, dtype=bool)
    row_start[starts[:-1][starts[:-1] < n]] = True
    # a token starts at a word char after a non-word char, at a row start, at
    # any CJK char and right after a CJK char; it runs while the next char
    # continues it
    brk = np.empty(n, dtype=bool)
    brk[0] = True
    brk[1:] = ~word[:-1] | cjk[:-1]
    brk |= row_start | cjk
    tok_start = word & brk
    tok_end = np.empty(n, dtype=bool)
    tok_end[:-1] = ~(word[1:] & ~tok_start[1:])
    tok_end[-1] = True
    tok_end &= word
    s_idx = np.flatnonzero(tok_start)
    e_idx = np.flatnonzero(tok_end) + 1
    # hash of cp[s:e] = P^(e-1) * sum_{s<=j<e} cp_j * P^-j  (mod 2**32); the sums over
    # all tokens at once with one reduceat over the interleaved starts and ends
    size = _power_table_size(n)
    scaled = np.empty(n + 1, dtype=np.uint32)
    np.multiply(cp, _powers(_P_INV, size)[:n], out=scaled[:n])
    scaled[n] = 0
    if len(s_idx):
        bounds = np.empty(2 * len(s_idx), dtype=np.int64)
        bounds[0::2] = s_idx
        bounds[1::2] = e_idx
        sums = np.add.reduceat(scaled, bounds, dtype=np.uint32)[0::2]
        h = sums * _powers(_P, size)[e_idx - 1]
    else:
        h = np.zeros(0, dtype=np.uint32)
    if cjk_bigrams:
        pair = np.flatnonzero(cjk[:-1] & cjk[1:] & ~row_start[1:])
        bh = cp[pair] * np.uint32(_P) + cp[pair + 1]
    else:
        pair, bh = np.zeros(0, np.int64), np.zeros(0, np.uint32)
    return h, s_idx.astype(np.int64) + offset, (e_idx - s_idx).astype(np.int64), bh, pair.astype(np.int64) + offset


def _power_table_size(n: int) -> int:
    """Size of the cached power table that covers ``n`` code points."""
    return max(_CHUNK, 1 << int(n - 1).bit_length()) if n > _CHUNK else _CHUNK


class Lexicon:
    """Word lists by class, matched against :class:`Tokens` in one vectorised lookup.

    A word may belong to several classes (at most 63). Multi-character
    Han/kana/Hangul words match only when tokenised with ``cjk_bigrams`` and
    only for two characters.
    """

    def __init__(self, classes: Mapping[str, Iterable[str]]) -> None:
        self.classes: tuple[str, ...] = tuple(classes)
        if len(self.classes) > 63:
            raise ValueError("a Lexicon holds at most 63 classes")
        masks: dict[int, int] = {}
        for k, name in enumerate(self.classes):
            for h in hash_words(w.lower() for w in classes[name]).tolist():
                masks[h] = masks.get(h, 0) | (1 << k)
        keys = sorted(masks)
        self._keys = np.array(keys, dtype=np.uint64)
        self._masks = np.array([masks[h] for h in keys], dtype=np.int64)
        # a 16-bit pre-filter drops almost every token before the binary search
        self._filter = np.zeros(1 << 16, dtype=bool)
        self._filter[(self._keys & np.uint64(0xFFFF)).astype(np.int64)] = True
        self._filter.flags.writeable = False

    def member(self, hashes: np.ndarray) -> np.ndarray:
        """Bit mask of the classes each token hash belongs to (0: none), int64."""
        out = np.zeros(len(hashes), dtype=np.int64)
        if len(hashes) == 0 or len(self._keys) == 0:
            return out
        cand = np.flatnonzero(self._filter[(hashes & np.uint64(0xFFFF)).astype(np.int64)])
        pos = np.minimum(np.searchsorted(self._keys, hashes[cand]), len(self._keys) - 1)
        hit = self._keys[pos] == hashes[cand]
        out[cand[hit]] = self._masks[pos[hit]]
        return out

    def counts(self, tokens: Tokens, n_rows: int) -> np.ndarray:
        """Return an ``(n_rows, n_classes)`` int64 matrix of lexicon hits."""
        k = len(self.classes)
        out = np.zeros((n_rows, k), dtype=np.int64)
        if len(tokens) == 0 or len(self._keys) == 0:
            return out
        cand = np.flatnonzero(self._filter[(tokens.hash & np.uint64(0xFFFF)).astype(np.int64)])
        pos = np.minimum(np.searchsorted(self._keys, tokens.hash[cand]), len(self._keys) - 1)
        hit = self._keys[pos] == tokens.hash[cand]
        rows = tokens.row[cand[hit]]
        masks = self._masks[pos[hit]]
        for j in range(k):
            out[:, j] = np.bincount(rows, weights=(masks >> j) & 1, minlength=n_rows)
        return out
