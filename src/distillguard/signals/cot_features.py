"""Features of the chain-of-thought elicitation model: prepared text, hashed n-grams, windows.

* **text preparation** — keep the first ``head`` and last ``tail`` characters
  (elicitation phrases sit at the start or end of a prompt), lower-case, map
  every digit to ``0``, collapse whitespace, pad with one space;
* **n-grams** — character n-grams hashed into ``2**n_bits`` buckets,
  computed for the whole batch at once in numpy: 3–5-grams everywhere, and
  1–2-grams only where they start at a CJK or Hangul character (a word there
  is one or two characters; in alphabetic text short grams are noise that
  lifts ordinary text);
* **windows** — each text is cut into windows of ``size`` characters every
  ``stride`` characters, at two scales (a short phrase in dense CJK text fills
  a small share of a long window); a window's features are its n-gram counts
  divided by the square root of its n-gram total.

The model that scores them is :class:`~distillguard.signals.cot_model.CotModel`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._text import CodePoints, as_text, decode, head_tail, row_sums

if TYPE_CHECKING:
    from scipy import sparse

GRAM_PRIME = np.uint32(0x01000193)
"""Multiplier of the rolling n-gram hash (the FNV-32 prime)."""
GRAM_SEED = np.uint32(0x9E3779B9)
"""Added to a gram's first code point to start its hash."""
GRAM_MULTIPLIERS = {n: np.uint32((0x9E3779B1 + 0x1000 * n) | 1) for n in range(1, 9)}
"""Per n-gram size, the odd multiplier whose top ``n_bits`` bits of the product give the bucket."""


def _normalise_table() -> np.ndarray:
    """Code point map of the BMP: digits to ``0``, whitespace to a space, else unchanged."""
    table = np.arange(0x10000, dtype=np.uint32)
    table[0x30:0x3A] = 0x30
    ws = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
    table[ws] = 0x20
    table[0x2000:0x200B] = 0x20
    table.flags.writeable = False
    return table


_NORMALISE = _normalise_table()
WIDE = 0x2E80
"""First code point of the CJK radicals; CJK, kana, Hangul and full-width forms all lie above."""


@dataclass(frozen=True, slots=True)
class CotFeatureConfig:
    """Hyper-parameters of text preparation, hashing and windowing."""

    n_bits: int = 18
    ngrams: tuple[int, ...] = (3, 4, 5)
    wide_ngrams: tuple[int, ...] = (1, 2)  # counted only where the gram starts at a char >= WIDE
    windows: tuple[tuple[int, int], ...] = ((96, 48), (40, 20))
    norm_power: float = 0.5  # window features are counts / n_grams**norm_power
    head: int = 256
    tail: int = 192


def prepare(texts: pa.Array, cfg: CotFeatureConfig) -> CodePoints:
    """Truncate, lower-case, pad and normalise a string array into code points."""
    arr = head_tail(as_text(texts), cfg.head, cfg.tail)
    text = decode(pc.binary_join_element_wise(" ", pc.utf8_lower(arr), " ", ""))
    if len(text.cp) == 0:
        return text
    cp = _NORMALISE[np.minimum(text.cp, 0xFFFF)]
    if text.cp.max() > 0xFFFF:
        cp = np.where(text.cp > 0xFFFF, text.cp, cp)
    # drop a space that follows a space in the same row
    ws = cp == 0x20
    keep = np.ones(len(cp), dtype=bool)
    keep[1:] = ~(ws[1:] & ws[:-1])
    keep[text.starts[:-1][text.starts[:-1] < len(cp)]] = True
    starts = np.zeros(text.n_rows + 1, dtype=np.int64)
    np.cumsum(row_sums(keep, text.starts), out=starts[1:])
    return CodePoints(cp[keep], starts)


def _gram_buckets(text: CodePoints, cfg: CotFeatureConfig) -> Iterable[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(n, bucket, valid)`` for every n-gram size; index ``i`` is the gram starting at ``cp[i]``."""
    c = text.cp.astype(np.uint32)
    rid = text.row_ids()
    wide = c >= WIDE
    shift = np.uint32(32 - cfg.n_bits)
    h = c + GRAM_SEED
    for n in range(1, longest_ngram(cfg) + 1):
        if n > 1:
            if len(h) <= 1:
                return
            h = h[:-1] * GRAM_PRIME + c[n - 1 :]
        if n in cfg.ngrams or n in cfg.wide_ngrams:
            valid = rid[: len(h)] == rid[n - 1 :]
            if n not in cfg.ngrams:
                valid &= wide[: len(h)]
            yield n, (h * GRAM_MULTIPLIERS[n]) >> shift, valid


def longest_ngram(cfg: CotFeatureConfig) -> int:
    """The longest n-gram of either kind."""
    return max(cfg.ngrams + cfg.wide_ngrams)


def gram_counts(
    text: CodePoints, win: Windows, cfg: CotFeatureConfig, wide: np.ndarray | None = None
) -> np.ndarray:
    """Number of n-grams that start in each window and end in its row (the feature normaliser).

    ``wide`` are the sorted positions of wide chars in ``text.cp``, if already known.
    """
    end_of_row = text.starts[1:][win.row]
    count = np.zeros(len(win.start), dtype=np.float64)
    for k in cfg.ngrams:
        count += np.maximum(np.minimum(win.end, end_of_row - k + 1) - win.start, 0)
    if cfg.wide_ngrams:
        wide = np.flatnonzero(text.cp >= WIDE) if wide is None else wide
        if len(wide):
            first = np.searchsorted(wide, win.start)
            for k in cfg.wide_ngrams:
                stop = np.maximum(np.minimum(win.end, end_of_row - k + 1), win.start)
                count += np.searchsorted(wide, stop) - first
    return count


@dataclass(frozen=True, slots=True)
class Windows:
    """Windows over a :class:`CodePoints` batch: global ``[start, end)``, owning ``row``.

    ``scale`` is the index into ``cfg.windows``; windows are grouped by scale
    and, within a scale, sorted by row and start. ``block`` is the index of a
    window's first block among its scale's blocks (see :func:`windows`).
    """

    start: np.ndarray
    end: np.ndarray
    row: np.ndarray
    scale: np.ndarray
    block: np.ndarray


def windows(text: CodePoints, cfg: CotFeatureConfig, min_chars: int = 3) -> Windows:
    """Cut every row into windows at each ``(size, stride)`` scale of ``cfg.windows``.

    A row is tiled by blocks of ``stride`` chars (the last one shorter); a
    window is ``size // stride`` consecutive blocks starting at every block,
    up to the one that reaches the row end, so windows are at least
    ``stride`` chars long (or the row, if shorter). Rows shorter than
    ``min_chars`` (an empty text after padding) get no window.
    """
    lengths = text.lengths
    parts = []
    for k, (size, stride) in enumerate(cfg.windows):
        if size % stride:
            raise ValueError(f"window size {size} is not a multiple of its stride {stride}")
        span = size // stride
        n_blk = np.where(lengths >= min_chars, -(-lengths // stride), 0)
        n_win = np.where(n_blk > 0, np.maximum(n_blk - span + 1, 1), 0)
        row = np.repeat(np.arange(text.n_rows, dtype=np.int64), n_win)
        j = np.arange(len(row), dtype=np.int64) - (np.cumsum(n_win) - n_win)[row]
        start = text.starts[row] + j * stride
        end = np.minimum(start + size, text.starts[row + 1])
        block = (np.cumsum(n_blk) - n_blk)[row] + j
        parts.append((start, end, row, np.full(len(row), k, dtype=np.int8), block))
    return Windows(*(np.concatenate([p[i] for p in parts]) for i in range(5)))


def window_blocks(text: CodePoints, stride: int, min_chars: int = 3) -> np.ndarray:
    """Bounds of the ``stride``-char blocks tiling every row (see :func:`windows`), plus the end."""
    lengths = text.lengths
    n_blk = np.where(lengths >= min_chars, -(-lengths // stride), 0)
    row = np.repeat(np.arange(text.n_rows, dtype=np.int64), n_blk)
    j = np.arange(len(row), dtype=np.int64) - (np.cumsum(n_blk) - n_blk)[row]
    return np.concatenate([text.starts[row] + j * stride, [len(text.cp)]])


def window_matrix(text: CodePoints, win: Windows, cfg: CotFeatureConfig) -> sparse.csr_matrix:
    """Sparse (n_windows x 2**n_bits) feature matrix, for training."""
    from scipy import sparse

    pos_parts, bucket_parts = [], []
    for _, bucket, valid in _gram_buckets(text, cfg):
        idx = np.flatnonzero(valid)
        pos_parts.append(idx)
        bucket_parts.append(bucket[idx].astype(np.int64))
    pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, np.int64)
    buckets = np.concatenate(bucket_parts) if bucket_parts else np.zeros(0, np.int64)
    order = np.argsort(pos, kind="stable")
    pos, buckets = pos[order], buckets[order]
    lo = np.searchsorted(pos, win.start, side="left")
    hi = np.searchsorted(pos, win.end, side="left")
    counts = hi - lo  # a window's grams are one contiguous run of the position-sorted grams
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    gram = np.repeat(lo - indptr[:-1], counts) + np.arange(indptr[-1])
    vals = np.repeat(np.maximum(gram_counts(text, win, cfg), 1.0) ** -cfg.norm_power, counts)
    # repeated buckets within a row stay as duplicate entries: products sum them
    return sparse.csr_matrix((vals, buckets[gram], indptr), shape=(len(counts), 1 << cfg.n_bits))
