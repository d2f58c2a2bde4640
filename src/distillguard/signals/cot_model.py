"""The chain-of-thought elicitation model behind the ``cot_score`` signal.

A linear model over hashed character n-grams, scored on sliding windows:

* **text preparation** — keep the first ``head`` and last ``tail`` characters
  (elicitation phrases sit at the start or end of a prompt), lower-case, map
  every digit to ``0``, collapse whitespace, pad with one space;
* **features** — character n-grams hashed into ``2**n_bits`` buckets,
  computed for the whole batch at once in numpy: 3–5-grams everywhere, and
  1–2-grams only where they start at a CJK or Hangul character (a word there
  is one or two characters; in alphabetic text short grams are noise that
  lifts ordinary text);
* **windows** — each text is cut into windows of ``size`` characters every
  ``stride`` characters, at two scales (a short phrase in dense CJK text fills
  a small share of a long window); a window's features are its n-gram counts
  divided by the square root of its n-gram total;
* **score** — logistic regression on windows; a text scores the sigmoid of its
  best window, so a short elicitation phrase is not diluted by a long problem.

The model is trained at first use from ``data/cot_seed.yaml`` (hand-written
multilingual phrasings composed with ordinary tasks, see :func:`build_examples`)
in well under a second, deterministically, and cached per process by
:func:`default_cot_model`.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._text import CodePoints, as_text, decode, head_tail, row_sums, segment_sums

_P32 = np.uint32(0x01000193)
_SEED32 = np.uint32(0x9E3779B9)
_MULT = {n: np.uint32((0x9E3779B1 + 0x1000 * n) | 1) for n in range(1, 9)}


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
SPAN_MARK = "<<X>>"
_CHUNK = 1 << 16


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


# --------------------------------------------------------------------------- features


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
    h = c + _SEED32
    for n in range(1, _top(cfg) + 1):
        if n > 1:
            if len(h) <= 1:
                return
            h = h[:-1] * _P32 + c[n - 1 :]
        if n in cfg.ngrams or n in cfg.wide_ngrams:
            valid = rid[: len(h)] == rid[n - 1 :]
            if n not in cfg.ngrams:
                valid &= wide[: len(h)]
            yield n, (h * _MULT[n]) >> shift, valid


def _top(cfg: CotFeatureConfig) -> int:
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


def _blocks(text: CodePoints, stride: int, min_chars: int = 3) -> np.ndarray:
    """Bounds of the ``stride``-char blocks tiling every row (see :func:`windows`), plus the end."""
    lengths = text.lengths
    n_blk = np.where(lengths >= min_chars, -(-lengths // stride), 0)
    row = np.repeat(np.arange(text.n_rows, dtype=np.int64), n_blk)
    j = np.arange(len(row), dtype=np.int64) - (np.cumsum(n_blk) - n_blk)[row]
    return np.concatenate([text.starts[row] + j * stride, [len(text.cp)]])


def window_matrix(text: CodePoints, win: Windows, cfg: CotFeatureConfig):  # noqa: ANN201 - scipy type
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


# --------------------------------------------------------------------------- model


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
        form. Same features as :func:`window_matrix`, without building them.
        """
        cfg = self.cfg
        c = text.cp.astype(np.uint32)
        n = len(c)
        wsum = np.zeros(n, dtype=np.float64)
        w = self.weights
        shift = np.uint32(32 - cfg.n_bits)
        top = _top(cfg)
        # positions of wide chars: usually few, so their short grams are looked up alone
        wide = np.flatnonzero(c >= WIDE) if cfg.wide_ngrams else np.zeros(0, np.int64)
        for a in range(0, n, _CHUNK):  # cache-sized chunks: about 1.6x faster than whole arrays
            b = min(a + _CHUNK, n)
            cc = c[a : min(b + top - 1, n)]
            acc = wsum[a : a + len(cc)]
            wide_here = wide[np.searchsorted(wide, a) : np.searchsorted(wide, b)] - a
            h = cc + _SEED32
            for k in range(1, top + 1):
                if k > 1:
                    if len(h) <= 1:
                        break
                    h = h[:-1] * _P32 + cc[k - 1 :]
                if k in cfg.ngrams:
                    acc[: min(len(h), b - a)] += w[(h * _MULT[k]) >> shift][: b - a]
                elif k in cfg.wide_ngrams and len(wide_here):
                    p = wide_here[wide_here < len(h)]
                    acc[p] += w[(h[p] * _MULT[k]) >> shift]
        # take out the n-grams that start within a row but end in the next one
        row_start, row_end = text.starts[:-1], text.starts[1:]
        pos, wrong = [], []
        for k in (*cfg.ngrams, *cfg.wide_ngrams):
            for j in range(1, k):
                p = row_end - j
                p = p[(p >= row_start) & (p + k <= n)]
                if k not in cfg.ngrams:
                    p = p[c[p] >= WIDE]
                g = c[p] + _SEED32
                for t in range(1, k):
                    g = g * _P32 + c[p + t]
                pos.append(p)
                wrong.append(w[(g * _MULT[k]) >> shift])
        if pos and n:
            wsum -= np.bincount(np.concatenate(pos), np.concatenate(wrong), minlength=n)
        win = windows(text, cfg)
        total = np.zeros(len(win.start), dtype=np.float64)
        for k, (_size, stride) in enumerate(cfg.windows):
            # block sums, then each window adds up its consecutive blocks
            blk = segment_sums(wsum, _blocks(text, stride))
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


# --------------------------------------------------------------------------- seed set and training


@dataclass(frozen=True, slots=True)
class Example:
    """One composed training/evaluation text.

    ``spans`` are the ``[start, end)`` character ranges of the elicitation
    phrase in ``text`` (two when the phrase wraps the task, none for
    negatives); ``group`` names the seed phrasing the example was built from
    (the unit of held-out evaluation).
    """

    text: str
    label: int
    lang: str
    group: str
    spans: tuple[tuple[int, int], ...] = ()


def load_seed() -> dict[str, dict[str, list[str]]]:
    """Read ``data/cot_seed.yaml``: ``{lang: {section: [phrases]}}``."""
    import yaml

    raw = resources.files("distillguard.signals").joinpath("data/cot_seed.yaml").read_text("utf-8")
    doc = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ~15x faster
    langs = doc.get("languages") if isinstance(doc, dict) else None
    if not isinstance(langs, dict) or not langs:
        raise ValueError("cot_seed.yaml: missing 'languages' mapping")
    sections = ("carriers", "elicit", "lookalike", "system_elicit", "system_plain")
    out: dict[str, dict[str, list[str]]] = {}
    for lang, secs in langs.items():
        if not isinstance(secs, dict) or any(s not in secs for s in sections):
            raise ValueError(f"cot_seed.yaml: language {lang!r} needs sections {sections}")
        bad = [t for s in sections for t in secs[s] if not isinstance(t, str)]
        if bad:  # e.g. an unquoted "key: value" line parsed as a mapping
            raise ValueError(f"cot_seed.yaml: language {lang!r} has non-string phrasings: {bad[:3]!r}")
        out[str(lang)] = {s: [" ".join(str(t).split()) for t in secs[s]] for s in sections}
    return out


def _compose(
    phrase: str, carrier: str, rng: random.Random
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Put ``carrier`` where the phrase's ``<<X>>`` is (or before/after it); return text and phrase spans."""
    if SPAN_MARK in phrase:
        pre, post = (p.strip() for p in phrase.split(SPAN_MARK, 1))
        spans = []
        text = ""
        if pre:
            spans.append((0, len(pre)))
            text = pre + " "
        text += carrier
        if post:
            spans.append((len(text) + 1, len(text) + 1 + len(post)))
            text += " " + post
        return text, tuple(spans)
    if rng.random() < 0.5:
        return f"{phrase} {carrier}", ((0, len(phrase)),)
    text = f"{carrier} {phrase}"
    return text, ((len(carrier) + 1, len(text)),)


def _bare(phrase: str) -> str:
    return " ".join(p.strip() for p in phrase.split(SPAN_MARK) if p.strip())


def build_examples(
    seed: Mapping[str, Mapping[str, Sequence[str]]],
    rng_seed: int = 0,
    n_carriers: int = 3,
    cross_lingual: float = 0.25,
    exclude: frozenset[str] = frozenset(),
    carrier_filter: frozenset[str] | None = None,
) -> list[Example]:
    """Compose seed phrasings with carriers into labelled texts.

    Every phrasing (positive or negative) appears alone and with
    ``n_carriers`` carriers — from its own language, or with probability
    ``cross_lingual`` from another — so that neither language, length nor
    topic separates the classes. Phrasings in ``exclude`` are left out;
    ``carrier_filter``, if given, restricts the carriers used.
    """
    rng = random.Random(rng_seed)
    langs = sorted(seed)
    carriers = {
        lang: [c for c in seed[lang]["carriers"] if carrier_filter is None or c in carrier_filter]
        for lang in langs
    }
    all_carriers = [c for lang in langs for c in carriers[lang]]
    out: list[Example] = []

    def pick_carrier(lang: str) -> str | None:
        pool = carriers[lang] if carriers[lang] and rng.random() >= cross_lingual else all_carriers
        return rng.choice(pool) if pool else None

    for lang in langs:
        sec = seed[lang]
        for label, key in ((1, "elicit"), (0, "lookalike")):
            for phrase in sec[key]:
                if phrase in exclude:
                    continue
                bare = _bare(phrase)
                out.append(Example(bare, label, lang, phrase, ((0, len(bare)),) if label else ()))
                for _ in range(n_carriers):
                    carrier = pick_carrier(lang)
                    if carrier is None:
                        continue
                    text, spans = _compose(phrase, carrier, rng)
                    out.append(Example(text, label, lang, phrase, spans if label else ()))
        plain = [p for p in sec["system_plain"]]
        for phrase in sec["system_elicit"]:
            if phrase in exclude:
                continue
            out.append(Example(phrase, 1, lang, phrase, ((0, len(phrase)),)))
            for _ in range(2):
                prefix = rng.choice(plain) if plain else ""
                text = f"{prefix} {phrase}".strip()
                out.append(Example(text, 1, lang, phrase, ((len(text) - len(phrase), len(text)),)))
        for phrase in sec["system_plain"]:
            if phrase in exclude:
                continue
            out.append(Example(phrase, 0, lang, phrase))
            other = rng.choice(plain)
            if other != phrase:
                out.append(Example(f"{phrase} {other}", 0, lang, phrase))
        for carrier in carriers[lang]:
            if carrier not in exclude:
                out.append(Example(carrier, 0, lang, "carrier:" + carrier))
    return out


def _window_labels(examples: Sequence[Example], text: CodePoints, win: Windows) -> np.ndarray:
    """1 / 0 per window, -1 for windows that overlap a phrase only a little (left out)."""
    positive = np.zeros(len(win.row), dtype=bool)
    touched = np.zeros(len(win.row), dtype=bool)
    for k in range(2):
        spans = np.array(
            [ex.spans[k] if len(ex.spans) > k else (-1, -1) for ex in examples], dtype=np.int64
        ).reshape(-1, 2)
        has = spans[win.row, 0] >= 0
        # prepared text = " " + text + " ": spans move one to the right
        ps = text.starts[win.row] + spans[win.row, 0] + 1
        pe = text.starts[win.row] + spans[win.row, 1] + 1
        overlap = np.maximum(np.minimum(pe, win.end) - np.maximum(ps, win.start), 0) * has
        need = np.maximum(np.minimum(0.6 * (pe - ps), 0.6 * (win.end - win.start)), 1)
        positive |= has & (overlap >= need)
        touched |= overlap > 0
    return np.where(positive, 1, np.where(touched, -1, 0))


def train_cot_model(
    examples: Sequence[Example],
    cfg: CotFeatureConfig | None = None,
    c: float = 2.0,
    neg_weight: float = 16.0,
) -> CotModel:
    """Fit the window model on composed ``examples`` (deterministic).

    Windows are weighed so that every (language, class) cell counts the same:
    English, with the most phrasings, does not drown the other languages.
    ``neg_weight`` > 1 weighs negative windows more than that: real traffic is
    mostly ordinary text, far more varied than the seed negatives, and this
    keeps its scores low. ``c`` (regularisation) and ``neg_weight`` were chosen
    by seed cross-validation (:func:`distillguard.signals.cot_eval.heldout`):
    among settings of equal held-out AUROC, the one with fewer held-out
    negatives at or above 0.5.
    """
    cfg = cfg or CotFeatureConfig()
    text = prepare(pa.array([ex.text for ex in examples], type=pa.string()), cfg)
    expected = np.array([len(ex.text) + 2 for ex in examples])
    usable = text.lengths == expected  # spans are exact only for untruncated, pre-normalised text
    win = windows(text, cfg)
    labels = _window_labels(examples, text, win)
    labels[~usable[win.row]] = -1
    x = window_matrix(text, win, cfg)
    keep = labels >= 0
    x = x[keep]
    y = labels[keep]
    if len(set(y.tolist())) != 2:
        raise ValueError("cot seed set needs both positive and negative windows")
    _, lang = np.unique(np.array([ex.lang for ex in examples]), return_inverse=True)
    used = np.flatnonzero(np.bincount(x.indices, minlength=1 << cfg.n_bits))  # fit on buckets that occur
    coef, intercept = fit_logistic(x[:, used].tocsr(), y, c, neg_weight, strata=lang[win.row[keep]])
    weights = np.zeros(1 << cfg.n_bits, dtype=np.float32)
    weights[used] = coef
    return CotModel(cfg, weights, intercept)


def fit_logistic(
    x,  # noqa: ANN001 - scipy sparse matrix
    y: np.ndarray,
    c: float,
    neg_weight: float = 1.0,
    max_iter: int = 1000,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression with balanced class weights (L-BFGS).

    Minimises ``c * sum_i s_i * log(1 + exp(-y_i (x_i.w + b))) + |w|^2 / 2``,
    the objective of scikit-learn's ``LogisticRegression(class_weight="balanced")``
    (with negatives weighted ``neg_weight`` times more), without importing
    scikit-learn (its import alone takes about a second). With ``strata``
    (an integer per row), classes are balanced within each stratum and every
    (stratum, class) cell gets the same total weight.
    """
    from scipy.optimize import minimize

    n, d = x.shape
    pos = y == 1
    cell = pos.astype(np.int64) if strata is None else 2 * np.asarray(strata, dtype=np.int64) + pos
    _, cell, size = np.unique(cell, return_inverse=True, return_counts=True)
    sw = n / (len(size) * size[cell]) * np.where(pos, 1.0, neg_weight)
    ys = np.where(pos, 1.0, -1.0)
    # products in float32 (half the memory traffic of the two sparse products that dominate
    # the fit), the optimiser's state in float64
    x = x.astype(np.float32)
    xt = x.T.tocsr()

    scale = 1.0 / (c * sw.sum())  # as scikit-learn: the mean loss sets the tolerance scale

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        m = ys * ((x @ w.astype(np.float32)) + b)
        loss = np.logaddexp(0.0, -m)
        g = -ys * sw * np.exp(-np.logaddexp(0.0, m))  # d loss / d z = -y * sigmoid(-m)
        grad = np.empty_like(theta)
        grad[:-1] = scale * (c * (xt @ g.astype(np.float32)) + w)
        grad[-1] = scale * c * g.sum()
        return float(scale * (c * (sw * loss).sum() + 0.5 * (w @ w))), grad

    with _single_threaded_blas():
        res = minimize(
            objective,
            np.zeros(d + 1),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps},
        )
    return res.x[:-1].astype(np.float32), float(res.x[-1])


def _single_threaded_blas():  # noqa: ANN202 - a context manager
    """Limit BLAS to one thread: L-BFGS-B's small BLAS calls slow down ~30x when
    OpenBLAS threads compete with other processes (Spark workers, other jobs)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def default_cot_model() -> CotModel:
    """The model trained on the whole packaged seed set; built once per process."""
    return train_cot_model(build_examples(load_seed()))
