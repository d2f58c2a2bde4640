"""The chain-of-thought elicitation model behind the ``cot_score`` signal.

A linear model over the hashed character n-grams of
:mod:`distillguard.signals.cot_features`, scored on sliding windows: logistic
regression on windows; a text scores the sigmoid of its best window, so a
short elicitation phrase is not diluted by a long problem. It is trained by
:mod:`distillguard.signals.cot_train` from the seed set of
:mod:`distillguard.signals.cot_seed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from distillguard.signals._text import CodePoints, segment_sums
from distillguard.signals.cot_features import (
    GRAM_MULTIPLIERS,
    GRAM_PRIME,
    GRAM_SEED,
    WIDE,
    CotFeatureConfig,
    Windows,
    gram_counts,
    longest_ngram,
    prepare,
    window_blocks,
    windows,
)

_CHUNK = 1 << 16


@dataclass(frozen=True)
class CotModel:
    """A trained window model: ``weights`` per hash bucket and an ``intercept``."""

    cfg: CotFeatureConfig
    weights: np.ndarray = field(repr=False)  # float32, 2**n_bits
    intercept: float = 0.0

    def window_logits(self, text: CodePoints) -> tuple[Windows, np.ndarray]:
        """Return the windows of ``text`` and the model's logit for each.

        Every n-gram's weight is added at its start position, including the
        few that run past a row end, which are then taken out again; the
        window sums come from one cumulative sum, the n-gram counts in closed
        form. Same features as
        :func:`~distillguard.signals.cot_features.window_matrix`, without
        building them.
        """
        cfg = self.cfg
        c = text.cp.astype(np.uint32)
        n = len(c)
        wsum = np.zeros(n, dtype=np.float64)
        w = self.weights
        shift = np.uint32(32 - cfg.n_bits)
        top = longest_ngram(cfg)
        # positions of wide chars: usually few, so their short grams are looked up alone
        wide = np.flatnonzero(c >= WIDE) if cfg.wide_ngrams else np.zeros(0, np.int64)
        for a in range(0, n, _CHUNK):  # cache-sized chunks: about 1.6x faster than whole arrays
            b = min(a + _CHUNK, n)
            cc = c[a : min(b + top - 1, n)]
            acc = wsum[a : a + len(cc)]
            wide_here = wide[np.searchsorted(wide, a) : np.searchsorted(wide, b)] - a
            h = cc + GRAM_SEED
            for k in range(1, top + 1):
                if k > 1:
                    if len(h) <= 1:
                        break
                    h = h[:-1] * GRAM_PRIME + cc[k - 1 :]
                if k in cfg.ngrams:
                    acc[: min(len(h), b - a)] += w[(h * GRAM_MULTIPLIERS[k]) >> shift][: b - a]
                elif k in cfg.wide_ngrams and len(wide_here):
                    p = wide_here[wide_here < len(h)]
                    acc[p] += w[(h[p] * GRAM_MULTIPLIERS[k]) >> shift]
        # take out the n-grams that start within a row but end in the next one
        row_start, row_end = text.starts[:-1], text.starts[1:]
        pos, wrong = [], []
        for k in (*cfg.ngrams, *cfg.wide_ngrams):
            for j in range(1, k):
                p = row_end - j
                p = p[(p >= row_start) & (p + k <= n)]
                if k not in cfg.ngrams:
                    p = p[c[p] >= WIDE]
                g = c[p] + GRAM_SEED
                for t in range(1, k):
                    g = g * GRAM_PRIME + c[p + t]
                pos.append(p)
                wrong.append(w[(g * GRAM_MULTIPLIERS[k]) >> shift])
        if pos and n:
            wsum -= np.bincount(np.concatenate(pos), np.concatenate(wrong), minlength=n)
        win = windows(text, cfg)
        total = np.zeros(len(win.start), dtype=np.float64)
        for k, (_size, stride) in enumerate(cfg.windows):
            # block sums, then each window adds up its consecutive blocks
            blk = segment_sums(wsum, window_blocks(text, stride))
            cblk = np.zeros(len(blk) + 1, dtype=np.float64)
            np.cumsum(blk, out=cblk[1:])
            m = win.scale == k
            first = win.block[m]
            n_in = -(-(win.end[m] - win.start[m]) // stride)
            total[m] = cblk[first + n_in] - cblk[first]
        return win, self.intercept + total * np.maximum(gram_counts(text, win, cfg, wide), 1.0) ** -cfg.norm_power

    def score_codepoints(self, text: CodePoints) -> np.ndarray:
        """Probability of elicitation per row: sigmoid of the best window (0 for empty rows)."""
        best = np.full(text.n_rows, -np.inf)
        win, logits = self.window_logits(text)
        for k in range(len(self.cfg.windows)):
            m = win.scale == k
            rows = win.row[m]
            if len(rows) == 0:
                continue
            first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            best[rows[first]] = np.maximum(best[rows[first]], np.maximum.reduceat(logits[m], first))
        out = np.zeros(text.n_rows, dtype=np.float32)
        has = np.isfinite(best)
        out[has] = 1.0 / (1.0 + np.exp(-best[has]))
        return out

    def score(self, texts: pa.Array | Sequence[str | None]) -> np.ndarray:
        """Score an array (or list) of texts; nulls and empty strings score 0."""
        if not isinstance(texts, pa.Array | pa.ChunkedArray):
            texts = pa.array(list(texts), type=pa.string())
        return self.score_codepoints(prepare(texts, self.cfg))
