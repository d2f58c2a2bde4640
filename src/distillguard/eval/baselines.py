"""Baseline detectors to compare distillguard against, run on the same logs.

Each baseline turns the log into a :class:`Trajectory` — (account, time,
score) points of a score the detector could compute online — and becomes a
:class:`DetectorOutput` once its threshold is set. The threshold is fixed on
legitimate traffic only: legitimate accounts (by label) are split by a hash of
their id into a *calibration* half and a *test* half; the threshold is the
``1 - target_fpr`` quantile of the calibration accounts' scores (an account is
flagged when its score is strictly above it), and every detector is then
scored on the attack accounts plus the test half.

* ``volume`` — what gateway rate limits do: the most requests the account
  sent in any sliding 1-hour window. (Total volume was the other candidate;
  it mostly measures how long an account has been active and punishes
  long-lived heavy users, while a rate limit acts on a window.)
* ``prada`` — Juuti et al. 2019, "PRADA: Protecting against DNN Model Stealing
  Attacks": for each query in time order, the minimum L2 distance of its
  embedding to the account's previous queries (a growing set, capped); once
  at least 30 distances are collected, the Shapiro–Wilk W of the distances;
  score = 1 − W. The test is repeated every ``prada_check_every`` queries
  (the paper tests on each query; thinned for cost) and the highest score
  so far counts, as an online detector would. Accounts with fewer than 30
  distances score 0.
* ``mmd`` — an MMD two-sample test of each account's query-embedding window
  (its first ≤ 64 queries) against a benign reference: up to 2,000 queries
  sampled from the calibration-half legitimate accounts. Unbiased MMD²
  with an RBF kernel whose bandwidth is the median pairwise distance of the
  reference. A calibration account's own queries are left out of the
  reference when it is scored. Accounts with fewer than 10 queries score 0.

Only the first ``max_queries_per_account`` non-empty prompts (last user
message, cut to ``prompt_chars``) of an account are embedded; system prompts
are not used.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from distillguard.core.ids import text_hash64
from distillguard.eval.embeddings import EmbeddingCache, Encoder, MiniLMEncoder, embed_texts
from distillguard.eval.inputs import DetectorOutput, EvalInputError, ExchangeLog, Labels
from distillguard.eval.results import BaselineRun

SPLIT_SALT = "distillguard.eval.calibration-split:"
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """Knobs of the baselines; the defaults are the ones the report documents."""

    target_fpr: float = 0.001
    volume_window_ms: int = HOUR_MS
    max_queries_per_account: int = 64
    prompt_chars: int = 256
    prada_min_distances: int = 30
    prada_max_set: int = 512
    prada_check_every: int = 10
    mmd_window: int = 64
    mmd_window_position: Literal["first", "last"] = "first"
    mmd_min_queries: int = 10
    mmd_reference_size: int = 2000
    embed_batch_size: int = 64
    sample_per_group: int | None = 250
    """Accounts per group (attack; calibration legit; test legit) the comparison is run on,
    drawn in proportion to each campaign / population (None: every account). Embedding runs
    at about 50 texts/s on two cores, so the full ``dev`` set would take the better part of an hour."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.target_fpr < 1.0:
            raise EvalInputError(f"target_fpr must be in (0, 1), got {self.target_fpr}")
        if self.prada_min_distances < 3:
            raise EvalInputError("prada_min_distances must be at least 3 (Shapiro–Wilk needs 3)")
        if self.mmd_min_queries < 2 or self.mmd_window < self.mmd_min_queries:
            raise EvalInputError("need 2 <= mmd_min_queries <= mmd_window")
        if self.mmd_window_position not in ("first", "last"):
            raise EvalInputError("mmd_window_position must be 'first' or 'last'")
        if min(self.prada_max_set, self.prada_check_every, self.max_queries_per_account) < 1:
            raise EvalInputError("prada_max_set, prada_check_every, max_queries_per_account must be >= 1")


def single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """Limit BLAS to one thread (threadpoolctl, a scikit-learn dependency) when it is there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn always brings it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------- calibration


def calibration_half(account_ids: np.ndarray) -> np.ndarray:
    """True for accounts in the calibration half: a fixed, salted hash of the id, not random."""
    return np.fromiter(
        ((text_hash64(SPLIT_SALT + a) & 1) == 0 for a in account_ids),
        dtype=bool,
        count=len(account_ids),
    )


def sample_mask(labels: Labels, per_group: int | None) -> np.ndarray:
    """A fixed, hash-ordered sample of accounts: ``per_group`` from each of attack, calibration
    legit and test legit, split over campaigns / populations in proportion to their size
    (at least 5 each)."""
    if per_group is None:
        return np.ones(len(labels), dtype=bool)
    rank = np.fromiter((text_hash64(SPLIT_SALT + "sample:" + a) for a in labels.account_id), np.uint64,
                       count=len(labels))
    half = calibration_half(labels.account_id)
    keep = np.zeros(len(labels), dtype=bool)
    stratum = np.where(labels.is_attack, labels.campaign, labels.population).astype(str)
    for group in (labels.is_attack, ~labels.is_attack & half, ~labels.is_attack & ~half):
        size = int(group.sum())
        for name in np.unique(stratum[group]):
            members = np.flatnonzero(group & (stratum == name))
            quota = max(5, round(per_group * len(members) / max(size, 1)))
            keep[members[np.argsort(rank[members])[:quota]]] = True
    return keep


def calibration_mask(labels: Labels) -> np.ndarray:
    """Legitimate accounts of the calibration half: the only ones thresholds may see."""
    return ~labels.is_attack & calibration_half(labels.account_id)


def evaluation_mask(labels: Labels) -> np.ndarray:
    """Attack accounts plus the test half of legitimate accounts."""
    return labels.is_attack | (~labels.is_attack & ~calibration_half(labels.account_id))


def calibrate_threshold(scores: np.ndarray, calibration: np.ndarray, target_fpr: float) -> float:
    """The ``1 - target_fpr`` quantile (an observed score) of the calibration accounts' scores."""
    sample = np.asarray(scores, dtype=np.float64)[np.asarray(calibration, dtype=bool)]
    if sample.size == 0:
        raise EvalInputError("no calibration account: cannot set a threshold")
    return float(np.quantile(sample, 1.0 - target_fpr, method="higher"))


@dataclass(frozen=True, slots=True, eq=False)
class Trajectory:
    """A running score: points ``(account row, ts, value)``; an account's score is its max value.

    An account is flagged when its score exceeds the threshold, at the time
    of the first point above it. Accounts without a point score 0.
    """

    account: np.ndarray  # int64
    ts: np.ndarray  # int64 ms
    value: np.ndarray  # float64

    def scores(self, n_accounts: int) -> np.ndarray:
        out = np.zeros(n_accounts, dtype=np.float64)
        np.maximum.at(out, self.account, self.value)
        return out

    def first_above(self, threshold: float, n_accounts: int) -> np.ndarray:
        """Epoch ms of each account's first point above ``threshold``; NaN when none."""
        out = np.full(n_accounts, np.inf)
        above = self.value > threshold
        np.minimum.at(out, self.account[above], self.ts[above].astype(np.float64))
        out[np.isinf(out)] = np.nan
        return out


def thresholded(
    name: str,
    trajectory: Trajectory,
    calibration: np.ndarray,
    target_fpr: float,
    description: str,
) -> DetectorOutput:
    """Turn a trajectory into verdicts with a threshold set on ``calibration`` accounts only."""
    n = len(calibration)
    scores = trajectory.scores(n)
    threshold = calibrate_threshold(scores, calibration, target_fpr)
    return DetectorOutput(
        name=name,
        flagged=scores > threshold,
        score=scores,
        flagged_at=trajectory.first_above(threshold, n),
        campaign=None,
        has_flag_times=True,
        threshold=threshold,
        description=description,
    )


# ---------------------------------------------------------------- volume


def volume_trajectory(log: ExchangeLog, window_ms: int = HOUR_MS) -> Trajectory:
    """At each exchange, the account's requests in the window ``(ts - window, ts]``."""
    if len(log) == 0:
        return Trajectory(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    t = log.ts - log.ts.min() + window_ms + 1  # >= window + 1, so key - window stays in the account
    t_bits = int(t.max()).bit_length()
    a_bits = max(int(log.account.max()).bit_length(), 1)
    counts = np.empty(len(log), dtype=np.int64)
    if t_bits + a_bits <= 62:
        key = (log.account << t_bits) | t
        counts[:] = np.searchsorted(key, key, side="right") - np.searchsorted(
            key, key - window_ms, side="right"
        )
    else:  # too wide for one int64 key: account by account
        for row in np.flatnonzero(np.diff(log.offsets)):
            s, e = log.offsets[row], log.offsets[row + 1]
            ts = log.ts[s:e]
            counts[s:e] = np.searchsorted(ts, ts, side="right") - np.searchsorted(
                ts, ts - window_ms, side="right"
            )
    return Trajectory(log.account.copy(), log.ts.copy(), counts.astype(np.float64))


# ---------------------------------------------------------------- queries


@dataclass(frozen=True, slots=True, eq=False)
class Queries:
    """The queries the embedding baselines look at, sorted by (account, ts).

    ``row[i]`` is query ``i``'s row in the embedding matrix;
    ``offsets[a]:offsets[a + 1]`` slices account ``a``'s queries.
    """

    account: np.ndarray
    ts: np.ndarray
    row: np.ndarray
    offsets: np.ndarray


def select_queries(log: ExchangeLog, max_per_account: int) -> np.ndarray:
    """Indices into ``log`` of each account's first ``max_per_account`` non-blank prompts."""
    if log.prompt is None:
        raise EvalInputError("the embedding baselines need prompts: read the log with with_prompts=True")
    valid = np.fromiter(
        (isinstance(p, str) and not p.isspace() and p != "" for p in log.prompt),
        dtype=bool,
        count=len(log),
    )
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return idx
    acc = log.account[idx]
    starts = np.flatnonzero(np.r_[True, acc[1:] != acc[:-1]])
    group = np.cumsum(np.r_[True, acc[1:] != acc[:-1]]) - 1
    rank = np.arange(idx.size) - starts[group]
    return idx[rank < max_per_account]


# ---------------------------------------------------------------- PRADA


def pairwise_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared L2 distances between the rows of ``a`` and of ``b`` (float64, clipped at 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def prada_distances(vectors: np.ndarray, max_set: int = 512) -> np.ndarray:
    """For queries 1..k-1, the min L2 distance to the (at most ``max_set``) queries before it."""
    k = len(vectors)
    if k < 2:
        return np.zeros(0)
    d2 = pairwise_sq_distances(vectors, vectors)
    i, j = np.indices((k, k))
    d2[(j >= i) | (j < i - max_set)] = np.inf
    return np.sqrt(d2[1:].min(axis=1))


def shapiro_w(sample: np.ndarray) -> float:
    """Shapiro–Wilk W; 1.0 for a sample with no spread (nothing to reject)."""
    if np.ptp(sample) == 0.0:
        return 1.0
    from scipy.stats import shapiro  # lazy: keeps the CLI's start fast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(shapiro(sample).statistic)


def prada_points(
    distances: np.ndarray, min_distances: int = 30, check_every: int = 10
) -> list[tuple[int, float]]:
    """``(n, 1 - W)`` for the first ``n`` distances at each check (every ``check_every``, and the last)."""
    total = len(distances)
    if total < min_distances:
        return []
    checks = list(range(min_distances, total + 1, check_every))
    if checks[-1] != total:
        checks.append(total)
    return [(n, 1.0 - shapiro_w(distances[:n])) for n in checks]


def prada_trajectory(
    vectors: np.ndarray, queries: Queries, config: BaselineConfig
) -> Trajectory:
    """PRADA's running score per account (see the module docstring)."""
    acc, ts, val = [], [], []
    with single_threaded_blas():  # many small products: BLAS threads only add overhead
        for a in np.flatnonzero(np.diff(queries.offsets) > config.prada_min_distances):
            s, e = queries.offsets[a], queries.offsets[a + 1]
            distances = prada_distances(vectors[queries.row[s:e]], config.prada_max_set)
            points = prada_points(distances, config.prada_min_distances, config.prada_check_every)
            for n, value in points:
                acc.append(a)
                ts.append(queries.ts[s + n])  # distance n-1 belongs to query n
                val.append(value)
    return Trajectory(np.array(acc, np.int64), np.array(ts, np.int64), np.array(val, np.float64))


# ---------------------------------------------------------------- MMD


def median_bandwidth(reference: np.ndarray) -> float:
    """Median pairwise L2 distance between distinct rows of ``reference`` (1.0 if it is 0)."""
    m = len(reference)
    if m < 2:
        return 1.0
    d2 = pairwise_sq_distances(reference, reference)
    sigma = float(np.median(np.sqrt(d2[np.triu_indices(m, k=1)])))
    return sigma if sigma > 0 else 1.0


def rbf(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    """RBF kernel ``exp(-||a - b||² / (2 σ²))``."""
    return np.exp(-pairwise_sq_distances(a, b) / (2.0 * bandwidth * bandwidth))


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Unbiased MMD² (Gretton et al. 2012, eq. 3) between samples ``x`` and ``y``."""
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("the unbiased MMD² needs at least two samples on each side")
    kxx, kyy, kxy = rbf(x, x, bandwidth), rbf(y, y, bandwidth), rbf(x, y, bandwidth)
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())


class MMDReference:
    """A benign reference sample with what scoring many windows against it needs."""

    def __init__(self, vectors: np.ndarray, owner: np.ndarray, bandwidth: float | None = None) -> None:
        self.vectors = np.asarray(vectors, dtype=np.float64)
        self.owner = np.asarray(owner, dtype=np.int64)
        self.bandwidth = median_bandwidth(self.vectors) if bandwidth is None else bandwidth
        kyy = rbf(self.vectors, self.vectors, self.bandwidth)
        np.fill_diagonal(kyy, 0.0)
        self._kyy = kyy
        self._row_sums = kyy.sum(axis=1)
        self._total = float(self._row_sums.sum())
        order = np.argsort(self.owner, kind="stable")
        owners, starts = np.unique(self.owner[order], return_index=True)
        ends = np.r_[starts[1:], len(order)]
        self._by_owner: dict[int, np.ndarray] = {
            int(o): order[s:e] for o, s, e in zip(owners, starts, ends, strict=True)
        }

    def __len__(self) -> int:
        return len(self.vectors)

    def mmd2(self, window: np.ndarray, account: int | None = None) -> float:
        """Unbiased MMD² of ``window`` against the reference less ``account``'s own rows."""
        window = np.asarray(window, dtype=np.float64)
        return self._combine(window, rbf(window, self.vectors, self.bandwidth), account)

    def mmd2_many(
        self, windows: list[np.ndarray], accounts: list[int | None], chunk_rows: int = 4096
    ) -> np.ndarray:
        """:meth:`mmd2` of many windows, their cross terms computed in large blocks (float32 GEMM)."""
        out = np.empty(len(windows), dtype=np.float64)
        y32 = self.vectors.astype(np.float32)
        y_sq = (self.vectors * self.vectors).sum(1).astype(np.float32)
        gamma = np.float32(1.0 / (2.0 * self.bandwidth * self.bandwidth))
        i = 0
        while i < len(windows):
            j, rows = i, 0
            while j < len(windows) and (rows == 0 or rows + len(windows[j]) <= chunk_rows):
                rows += len(windows[j])
                j += 1
            x = np.concatenate([np.asarray(w, dtype=np.float64) for w in windows[i:j]])
            # exp(-γ (|x|² + |y|² - 2 x·y)) in place, in float32: the block is large
            kxy = x.astype(np.float32) @ y32.T
            kxy *= -2.0
            kxy += (x * x).sum(1).astype(np.float32)[:, None]
            kxy += y_sq[None, :]
            np.maximum(kxy, 0.0, out=kxy)
            kxy *= -gamma
            np.exp(kxy, out=kxy)
            with single_threaded_blas():  # the per-window products are small
                start = 0
                for k in range(i, j):
                    n = len(windows[k])
                    block = slice(start, start + n)
                    out[k] = self._combine(x[block], kxy[block], accounts[k])
                    start += n
            i = j
        return out

    def _combine(self, window: np.ndarray, kxy: np.ndarray, account: int | None) -> float:
        """Unbiased MMD² from a window and its kernel row block against the whole reference."""
        n = len(window)
        if n < 2:
            raise ValueError("the unbiased MMD² needs at least two samples in the window")
        kxx = rbf(window, window, self.bandwidth)
        xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        yy_sum, xy_sum, m = self._total, float(kxy.sum(dtype=np.float64)), len(self.vectors)
        own = None if account is None else self._by_owner.get(account)
        if own is not None:
            yy_sum += -2.0 * self._row_sums[own].sum() + self._kyy[np.ix_(own, own)].sum()
            xy_sum -= float(kxy[:, own].sum(dtype=np.float64))
            m -= len(own)
        if m < 2:
            raise ValueError("the reference has fewer than two rows left")
        return float(xx + yy_sum / (m * (m - 1)) - 2.0 * xy_sum / (n * m))


def mmd_reference(
    vectors: np.ndarray, queries: Queries, calibration: np.ndarray, config: BaselineConfig
) -> MMDReference:
    """Sample up to ``mmd_reference_size`` queries of calibration accounts as the benign reference."""
    pool = np.flatnonzero(calibration[queries.account])
    if pool.size < 2:
        raise EvalInputError("fewer than two calibration queries: cannot build the MMD reference")
    rng = np.random.default_rng(config.seed)
    size = min(config.mmd_reference_size, pool.size)
    picked = np.sort(rng.choice(pool, size=size, replace=False))
    return MMDReference(vectors[queries.row[picked]], queries.account[picked])


def mmd_trajectory(
    vectors: np.ndarray, queries: Queries, reference: MMDReference, config: BaselineConfig
) -> Trajectory:
    """One point per account with enough queries: its window's MMD², at the window's last query."""
    acc, ts, windows = [], [], []
    for a in np.flatnonzero(np.diff(queries.offsets) >= config.mmd_min_queries):
        s, e = queries.offsets[a], queries.offsets[a + 1]
        if config.mmd_window_position == "first":
            e = min(e, s + config.mmd_window)
        else:
            s = max(s, e - config.mmd_window)
        acc.append(int(a))
        ts.append(queries.ts[e - 1])
        windows.append(vectors[queries.row[s:e]])
    values = reference.mmd2_many(windows, acc) if windows else np.zeros(0)  # type: ignore[arg-type]
    return Trajectory(np.array(acc, np.int64), np.array(ts, np.int64), np.asarray(values, np.float64))


# ---------------------------------------------------------------- all baselines


BASELINES: tuple[str, ...] = ("volume", "prada", "mmd")


def run_baselines(
    labels: Labels,
    log: ExchangeLog,
    config: BaselineConfig | None = None,
    cache_dir: Path | None = None,
    encoder: Encoder | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[DetectorOutput], BaselineRun]:
    """Run every baseline on ``log`` and set each threshold on calibration-half legit accounts.

    ``progress`` (optional) receives a line of text as each step starts.
    """
    config = config or BaselineConfig()
    say = progress or (lambda _line: None)
    sampled = sample_mask(labels, config.sample_per_group)
    calibration = calibration_mask(labels) & sampled
    if not calibration.any():
        raise EvalInputError("no legitimate account falls in the calibration half")
    pct = f"{100 * (1 - config.target_fpr):g}th percentile"
    seconds: dict[str, float] = {}
    outputs = []

    say("baseline volume: requests per sliding hour")
    start = time.perf_counter()
    outputs.append(
        thresholded(
            "volume",
            volume_trajectory(log, config.volume_window_ms),
            calibration,
            config.target_fpr,
            f"most requests in any {config.volume_window_ms / HOUR_MS:g}-hour window; "
            f"threshold at the {pct} of calibration legit accounts",
        )
    )
    seconds["volume"] = round(time.perf_counter() - start, 3)

    start = time.perf_counter()
    picked = select_queries(log, config.max_queries_per_account)
    picked = picked[sampled[log.account[picked]]]
    texts = [log.prompt[i] for i in picked]  # type: ignore[index]
    say(f"embedding {len(texts):,} queries (distinct texts once; cache: {cache_dir or 'none'})")
    encoder = encoder or MiniLMEncoder(batch_size=config.embed_batch_size)
    cache = EmbeddingCache(cache_dir, encoder.name) if cache_dir is not None else None
    vectors, rows, embedding = embed_texts(texts, encoder, cache)
    q_account = log.account[picked]
    queries = Queries(
        account=q_account,
        ts=log.ts[picked],
        row=rows.astype(np.int64),
        offsets=np.searchsorted(q_account, np.arange(len(labels) + 1)).astype(np.int64),
    )
    seconds["embedding"] = round(time.perf_counter() - start, 3)

    say("baseline prada: Shapiro–Wilk on min query distances")
    start = time.perf_counter()
    outputs.append(
        thresholded(
            "prada",
            prada_trajectory(vectors, queries, config),
            calibration,
            config.target_fpr,
            f"1 − Shapiro–Wilk W of min L2 distances between query embeddings "
            f"(≥ {config.prada_min_distances} distances, else 0); threshold at the {pct}",
        )
    )
    seconds["prada"] = round(time.perf_counter() - start, 3)

    say("baseline mmd: MMD² against the calibration reference")
    start = time.perf_counter()
    reference = mmd_reference(vectors, queries, calibration, config)
    outputs.append(
        thresholded(
            "mmd",
            mmd_trajectory(vectors, queries, reference, config),
            calibration,
            config.target_fpr,
            f"unbiased MMD² (RBF, σ = {reference.bandwidth:.3f}) of the {config.mmd_window_position} "
            f"≤ {config.mmd_window} query embeddings vs {len(reference):,} calibration-legit queries "
            f"(< {config.mmd_min_queries} queries: 0); threshold at the {pct}",
        )
    )
    seconds["mmd"] = round(time.perf_counter() - start, 3)

    legit = ~labels.is_attack
    run = BaselineRun(
        target_fpr=config.target_fpr,
        calibration_accounts=int(calibration.sum()),
        test_legit_accounts=int((legit & ~calibration_half(labels.account_id) & sampled).sum()),
        attack_accounts=int((labels.is_attack & sampled).sum()),
        reference_queries=len(reference),
        mmd_bandwidth=round(reference.bandwidth, 6),
        embedding=embedding,
        seconds=seconds,
        notes=(
            f"embedding baselines see each account's first {config.max_queries_per_account} "
            f"non-empty prompts, cut to {config.prompt_chars} characters; no system prompts",
        ),
    )
    return outputs, run
