"""Baselines: calibration on legit traffic only, volume windows, PRADA and MMD on synthetic embeddings."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from evalworld import MINUTE_MS, HashEncoder, exchange_table, write_jsonl

from distillguard.eval.baselines import (
    BASELINES,
    BaselineConfig,
    MMDReference,
    Queries,
    Trajectory,
    calibrate_threshold,
    calibration_half,
    calibration_mask,
    evaluation_mask,
    mmd2_unbiased,
    mmd_trajectory,
    prada_distances,
    prada_points,
    rbf,
    run_baselines,
    sample_mask,
    select_queries,
    shapiro_w,
    thresholded,
    volume_trajectory,
)
from distillguard.eval.embeddings import (
    EXTRA_HINT,
    BaselinesUnavailableError,
    EmbeddingCache,
    MiniLMEncoder,
    embed_texts,
)
from distillguard.eval.inputs import EvalInputError, Labels, exchange_log_from_tables
from distillguard.eval.report import evaluate


def _labels(n_legit: int, n_attack: int) -> Labels:
    rows = [{"account_id": f"legit-{i}", "label": "legit", "population": "individual",
             "n_exchanges": 1} for i in range(n_legit)]
    rows += [{"account_id": f"attack-{i}", "label": "attack", "population": "campaign",
              "campaign": f"C{i % 3}", "n_exchanges": 1} for i in range(n_attack)]
    return Labels.from_records(rows)


# ---------------------------------------------------------------- calibration


def test_split_is_deterministic_and_about_half():
    ids = np.array([f"acct-{i}" for i in range(4000)], dtype=object)
    half = calibration_half(ids)
    assert (half == calibration_half(ids)).all()
    assert 0.45 < half.mean() < 0.55


def test_threshold_sees_only_calibration_half_legit_accounts():
    labels = _labels(n_legit=400, n_attack=400)
    calibration = calibration_mask(labels)
    assert not (calibration & labels.is_attack).any()
    # Calibration legit accounts score in [0, 1]; every other account scores far higher.
    # Had an attack (or test-half) account leaked into calibration, the 99.9th
    # percentile would be 100 or 50 and nothing would be flagged.
    scores = np.where(labels.is_attack, 100.0, 50.0)
    scores[calibration] = np.linspace(0.0, 1.0, int(calibration.sum()))
    threshold = calibrate_threshold(scores, calibration, 0.001)
    assert threshold == 1.0
    rows = np.arange(len(labels))
    out = thresholded("t", Trajectory(rows, rows * 0, scores), calibration, 0.001, "")
    assert (out.flagged == ~calibration).all()
    assert out.threshold == 1.0


def test_evaluation_mask_is_attack_plus_test_half():
    labels = _labels(n_legit=100, n_attack=30)
    mask = evaluation_mask(labels)
    assert mask[labels.is_attack].all()
    assert not (mask & calibration_mask(labels)).any()
    assert (mask | calibration_mask(labels)).all()


@pytest.mark.parametrize(("target", "expected"), [(0.001, 999.0), (0.1, 900.0), (0.5, 500.0)])
def test_threshold_quantile(target, expected):
    scores = np.arange(1001, dtype=float)
    assert calibrate_threshold(scores, np.ones(1001, bool), target) == expected


def test_threshold_without_calibration_accounts_raises():
    with pytest.raises(EvalInputError):
        calibrate_threshold(np.ones(3), np.zeros(3, bool), 0.001)


def test_trajectory_scores_and_first_crossing():
    traj = Trajectory(np.array([0, 0, 0, 2]), np.array([10, 20, 30, 5]), np.array([1.0, 3.0, 2.0, 0.5]))
    assert traj.scores(3).tolist() == [3.0, 0.0, 0.5]
    at = traj.first_above(1.5, 3)
    assert at[0] == 20 and math.isnan(at[1]) and math.isnan(at[2])


# ---------------------------------------------------------------- volume


def test_volume_counts_a_sliding_hour():
    labels = Labels.from_records([{"account_id": a, "label": "legit", "n_exchanges": 0}
                                  for a in ("x", "y")])
    minutes = [0, 10, 20, 61, 62]
    rows = [("x", m * MINUTE_MS, None) for m in minutes] + [("y", 5 * MINUTE_MS, None)]
    log = exchange_log_from_tables([exchange_table(rows)], labels)
    traj = volume_trajectory(log)
    assert traj.value.tolist() == [1, 2, 3, 3, 4, 1]
    assert traj.scores(2).tolist() == [4.0, 1.0]
    assert traj.first_above(2.5, 2)[0] == 20 * MINUTE_MS


def test_volume_wide_keys_fall_back_to_per_account():
    labels = Labels.from_records([{"account_id": "x", "label": "legit", "n_exchanges": 0}])
    far = 4 * 10**18  # spans too wide for one packed int64 key with the account
    rows = [("x", 0, None), ("x", 1, None), ("x", far, None)]
    log = exchange_log_from_tables([exchange_table(rows)], labels)
    assert volume_trajectory(log).value.tolist() == [1, 2, 1]


# ---------------------------------------------------------------- PRADA


def test_prada_distances_by_hand():
    x = np.array([[0.0], [3.0], [1.0], [10.0]])
    assert prada_distances(x).tolist() == [3.0, 1.0, 7.0]
    assert prada_distances(x, max_set=1).tolist() == [3.0, 2.0, 9.0]


@pytest.mark.parametrize("seed", range(5))
def test_prada_random_queries_look_normal(seed):
    rng = np.random.default_rng(seed)
    distances = prada_distances(rng.normal(size=(100, 384)))
    assert shapiro_w(distances) > 0.9


@pytest.mark.parametrize("seed", range(5))
def test_prada_structured_sweep_is_not_normal(seed):
    # Synthetic queries as model-extraction attacks make them: 10 seeds, each
    # followed by 9 small perturbations → a few large and many tiny distances.
    rng = np.random.default_rng(seed)
    seeds = rng.normal(size=(10, 384))
    x = np.concatenate([s + 0.02 * rng.normal(size=(10, 384)) for s in seeds])
    random_w = shapiro_w(prada_distances(rng.normal(size=(100, 384))))
    structured_w = shapiro_w(prada_distances(x))
    assert structured_w < 0.6 < random_w


def test_prada_needs_thirty_distances_and_checks_periodically():
    d = np.random.default_rng(0).normal(size=55)
    assert prada_points(d[:29]) == []
    points = prada_points(d)
    assert [n for n, _ in points] == [30, 40, 50, 55]
    assert points[-1][1] == pytest.approx(1 - shapiro_w(d))


def test_shapiro_of_constant_sample_is_one():
    assert shapiro_w(np.zeros(40)) == 1.0


# ---------------------------------------------------------------- MMD


def test_unbiased_mmd_by_hand():
    x = np.array([[0.0], [1.0]])
    y = np.array([[0.0], [2.0], [3.0]])
    e = math.exp
    xx = e(-0.5)  # (2 k(0,1)) / (2 * 1)
    yy = (e(-2) + e(-4.5) + e(-0.5)) / 3  # (2 Σ pairs) / (3 * 2)
    xy = (1 + e(-2) + e(-4.5) + e(-0.5) + e(-0.5) + e(-2)) / 6
    assert mmd2_unbiased(x, y, bandwidth=1.0) == pytest.approx(xx + yy - 2 * xy)
    assert rbf(x, y, 1.0)[1, 2] == pytest.approx(e(-2))


def test_mmd_same_distribution_near_zero_shifted_large():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(1000, 16))
    ref = MMDReference(y, owner=np.full(1000, -1))
    same = [ref.mmd2(rng.normal(size=(64, 16))) for _ in range(20)]
    shifted = [ref.mmd2(rng.normal(size=(64, 16)) + 1.0) for _ in range(20)]
    assert abs(np.mean(same)) < 0.005
    assert max(abs(s) for s in same) < 0.02
    assert min(shifted) > 0.1


def test_mmd_reference_leaves_the_account_out():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(30, 4))
    owner = np.array([7] * 5 + [-1] * 25)
    ref = MMDReference(y, owner, bandwidth=1.5)
    x = rng.normal(size=(8, 4))
    assert ref.mmd2(x, account=7) == pytest.approx(mmd2_unbiased(x, y[5:], 1.5))
    assert ref.mmd2(x, account=3) == pytest.approx(mmd2_unbiased(x, y, 1.5))


def test_mmd_trajectory_window_and_time():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(100, 4))
    account = np.array([0] * 70 + [1] * 5 + [2] * 25)
    queries = Queries(account=account, ts=np.arange(100) * 10, row=np.arange(100),
                      offsets=np.searchsorted(account, np.arange(4)))
    ref = MMDReference(rng.normal(size=(50, 4)), np.full(50, -1))
    traj = mmd_trajectory(vectors, queries, ref, BaselineConfig())
    assert traj.account.tolist() == [0, 2]  # account 1 has fewer than 10 queries
    assert traj.ts.tolist() == [630, 990]  # the 64th query of account 0, the last of account 2
    assert traj.value[0] == pytest.approx(ref.mmd2(vectors[:64]), abs=1e-6)  # float32 block


# ---------------------------------------------------------------- embeddings


def test_embedding_cache_embeds_each_text_once(tmp_path):
    encoder = HashEncoder()
    cache = EmbeddingCache(tmp_path / "cache", encoder.name)
    texts = ["a", "b", "a", "c"]
    v1, rows1, s1 = embed_texts(texts, encoder, cache)
    assert (s1.distinct_texts, s1.embedded, s1.from_cache) == (3, 3, 0)
    assert rows1[0] == rows1[2]
    v2, rows2, s2 = embed_texts(texts + ["d"], encoder, cache)
    assert (s2.embedded, s2.from_cache) == (1, 3)
    assert encoder.texts == 4
    assert np.allclose(v1[rows1], v2[rows2][:4])
    _, _, s3 = embed_texts(texts, encoder, cache)
    assert s3.embedded == 0 and encoder.calls == 2


def test_missing_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(BaselinesUnavailableError, match=EXTRA_HINT.replace("[", r"\[").replace("]", r"\]")):
        MiniLMEncoder().encode(["hello"])


def test_select_queries_caps_and_skips_blank():
    labels = Labels.from_records([{"account_id": a, "label": "legit", "n_exchanges": 0}
                                  for a in ("x", "y")])
    rows = [("x", i, p) for i, p in enumerate(["q0", None, " ", "q3", "q4", "q5"])] + [("y", 0, "y0")]
    log = exchange_log_from_tables([exchange_table(rows)], labels, with_prompts=True)
    picked = select_queries(log, max_per_account=2)
    assert [log.prompt[i] for i in picked] == ["q0", "q3", "y0"]


# ---------------------------------------------------------------- end to end


def _toy_world(tmp_path):
    """60 legit accounts with varied prompts; one 6-account campaign sweeping a template fast."""
    rows_labels, rows = [], []
    rng = np.random.default_rng(3)
    for i in range(60):
        a = f"user-{i}"
        n = int(rng.integers(5, 40))
        rows_labels.append({"account_id": a, "label": "legit", "population":
                            ("individual", "students")[i % 2], "n_exchanges": n})
        for k in range(n):
            rows.append((a, k * 7 * MINUTE_MS + i, f"user {i} question {rng.integers(10**6)}"))
    for i in range(6):
        a = f"bot-{i}"
        rows_labels.append({"account_id": a, "label": "attack", "population": "campaign",
                            "campaign": "C1", "n_exchanges": 200})
        for k in range(200):
            rows.append((a, k * 3_000, f"Solve step by step: problem {k % 40} variant {k // 40}"))
    labels = Labels.from_records(rows_labels)
    log = exchange_log_from_tables([exchange_table(rows)], labels, with_prompts=True)
    preds = [{"account_id": f"bot-{i}", "risk": 0.9, "action": "block", "flagged": True,
              "campaign_id": "P1", "flagged_at": None, "reasons": []} for i in range(6)]
    write_jsonl(tmp_path / "pred" / "accounts.jsonl", preds)
    return labels, log


def test_baselines_end_to_end_with_a_stand_in_encoder(tmp_path):
    labels, log = _toy_world(tmp_path)
    outputs, run = run_baselines(labels, log, BaselineConfig(target_fpr=0.01),
                                 cache_dir=tmp_path / "cache", encoder=HashEncoder())
    assert tuple(o.name for o in outputs) == BASELINES
    volume = outputs[0]
    assert volume.flagged[labels.is_attack].all()  # 200 requests in 10 minutes
    assert run.embedding.embedded == run.embedding.distinct_texts
    assert run.calibration_accounts + run.test_legit_accounts == 60
    calibration = calibration_mask(labels)
    for out in outputs:
        assert not (out.flagged & calibration & (out.score <= out.threshold)).any()
        assert out.flagged.sum() == (out.score > out.threshold).sum()
        assert np.isnan(out.flagged_at[~out.flagged]).all()
        assert not np.isnan(out.flagged_at[out.flagged]).any()


def test_evaluate_with_baselines_compares_on_the_same_accounts(tmp_path):
    labels, log = _toy_world(tmp_path)
    report = evaluate(tmp_path / "pred", labels, log, baselines=True,
                      config=BaselineConfig(target_fpr=0.01), cache_dir=tmp_path / "c",
                      encoder=HashEncoder())
    names = [row.detector for row in report.comparison]
    assert names == ["distillguard", *BASELINES]
    n_test = int(evaluation_mask(labels).sum())
    assert all(row.n_accounts == n_test for row in report.comparison)
    assert report.predictions.n_accounts == len(labels)
    assert report.comparison[0].recall == 1.0
    assert report.detector("volume").ari is None
    assert report.detector("volume").median_time_to_detect is not None
    # the predictions' flagged_at is null: time to detect counts as after the last exchange
    assert report.predictions.campaigns[0].time_to_detect == 1.0


def test_baselines_need_logs(tmp_path):
    labels, _ = _toy_world(tmp_path)
    with pytest.raises(EvalInputError, match="logs"):
        evaluate(tmp_path / "pred", labels, None, baselines=True)


def test_config_is_checked():
    with pytest.raises(EvalInputError):
        BaselineConfig(target_fpr=0.0)
    with pytest.raises(EvalInputError):
        BaselineConfig(mmd_min_queries=100, mmd_window=64)


def test_mmd_many_matches_one_by_one():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(60, 8))
    owner = np.array([1] * 6 + [2] * 4 + [-1] * 50)
    ref = MMDReference(y, owner)
    windows = [rng.normal(size=(n, 8)) + shift for n, shift in ((5, 0.0), (12, 0.5), (2, 1.0), (30, 0.0))]
    accounts = [1, 2, None, 7]
    many = ref.mmd2_many(windows, accounts, chunk_rows=16)  # forces several blocks
    one = [ref.mmd2(w, account=a) for w, a in zip(windows, accounts, strict=True)]
    assert many == pytest.approx(one, abs=1e-5)


def test_sample_keeps_every_stratum_and_is_deterministic():
    records = [{"account_id": f"legit-{i}", "label": "legit", "population": "individual" if i % 10 else "students",
                "campaign": None, "n_exchanges": 1} for i in range(2_000)]
    records += [{"account_id": f"atk-{i}", "label": "attack", "population": "campaign",
                 "campaign": "big" if i % 50 else "small", "n_exchanges": 1} for i in range(1_000)]
    labels = Labels.from_records(records)
    keep = sample_mask(labels, 100)
    assert np.array_equal(keep, sample_mask(labels, 100))
    campaigns = labels.campaign[keep & labels.is_attack]
    assert 90 <= len(campaigns) <= 110 and (campaigns == "small").sum() >= 5
    calibration = calibration_mask(labels)
    for half in (calibration, ~labels.is_attack & ~calibration):
        populations = labels.population[keep & half]
        assert 90 <= len(populations) <= 115 and (populations == "students").sum() >= 5
    assert sample_mask(labels, None).all()
