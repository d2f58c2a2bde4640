"""Training of the chain-of-thought elicitation model on its seed set.

The model is trained at first use from ``data/cot_seed.yaml`` (see
:mod:`distillguard.signals.cot_seed`) in well under a second,
deterministically, and cached per process by :func:`default_cot_model`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from distillguard.signals._text import CodePoints
from distillguard.signals.cot_features import CotFeatureConfig, Windows, prepare, window_matrix, windows
from distillguard.signals.cot_model import CotModel
from distillguard.signals.cot_seed import Example, build_examples, load_seed

if TYPE_CHECKING:
    from scipy import sparse


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
    x: sparse.csr_matrix,
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


def _single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
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
