"""The chain-of-thought elicitation model and signal."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from signals_fixtures import prompts_batch

from distillguard.signals import SIGNALS, cot_features, cot_seed, cot_train
from distillguard.signals.cot_eval import heldout
from distillguard.signals.cot_model import CotModel

# Hand-written for these tests; none of them is in data/cot_seed.yaml.
ELICIT = [
    ("en", "Before you respond, reason it through one step at a time and show me each step."),
    ("en", "Work it out step-by-step; I want to see every bit of your reasoning."),
    ("en", "A farmer has 3 fields of 12 acres each. How many acres? Reason step by step and give the result as \\boxed{}."),
    ("en", "Below is a question and the answer someone gave. Write out the hidden thought process that produced it."),
    ("zh", "请你先一步步分析，再把推理过程完整地写下来。"),
    ("zh", "回答前请详细说明每一步的思考。"),
    ("zh", "請先一步步推理，再把完整的思考過程寫出來。"),
    ("ru", "Прежде чем дать ответ, распиши подробно каждый шаг своего рассуждения."),
    ("es", "Antes de contestar, razona cada paso en detalle y enséñame tu razonamiento completo."),
    ("de", "Bevor du antwortest, überlege Schritt für Schritt und schreib jeden Gedankengang auf."),
    ("fr", "Avant de répondre, réfléchis étape par étape et détaille tout ton raisonnement."),
    ("ja", "回答する前に、順を追って考え、推論をすべて書き出してください。"),
    ("ko", "답하기 전에 한 단계씩 추론하고 그 과정을 모두 적어 주세요."),
]
LOOKALIKE = [
    ("en", "What are the steps to renew a driver's license in California?"),
    ("en", "I think pizza is overrated, what do you think?"),
    ("en", "Explain the difference between a list and a tuple in Python."),
    ("en", "Give me a good reason to visit Lisbon in winter."),
    ("en", "Write a step-by-step guide to brewing cold brew coffee at home."),
    ("en", "Walk me through the steps to install Node.js on Windows."),
    ("en", "Explain why the Berlin Wall fell."),
    ("zh", "請問這份合約的內容完整嗎？幫我檢查一下有沒有遺漏。"),
    ("zh", "你觉得这部电影怎么样？"),
    ("ru", "Какие документы нужны, чтобы оформить загранпаспорт?"),
    ("es", "¿Qué opinas de esta película?"),
    ("de", "Welche Unterlagen brauche ich, um einen Reisepass zu beantragen?"),
    ("fr", "Que penses-tu de ce film ?"),
    ("ja", "パスポートを申請するのに必要な書類を教えてください。"),
    ("ko", "여권을 신청하는 데 필요한 서류를 알려 주세요."),
]


@pytest.fixture(scope="module")
def model() -> CotModel:
    return cot_train.default_cot_model()


def test_seed_cases_are_not_in_the_seed_set() -> None:
    seed = cot_seed.load_seed()
    phrases = {p for secs in seed.values() for items in secs.values() for p in items}
    for _, text in ELICIT + LOOKALIKE:
        assert " ".join(text.split()) not in phrases


@pytest.mark.parametrize(("lang", "text"), ELICIT)
def test_elicitation_scores_high(model: CotModel, lang: str, text: str) -> None:
    assert model.score([text])[0] > 0.7, lang


@pytest.mark.parametrize(("lang", "text"), LOOKALIKE)
def test_lookalikes_score_low(model: CotModel, lang: str, text: str) -> None:
    assert model.score([text])[0] < 0.5, lang


def test_every_elicitation_outranks_every_lookalike(model: CotModel) -> None:
    pos = model.score([t for _, t in ELICIT])
    neg = model.score([t for _, t in LOOKALIKE])
    assert pos.min() > neg.max()


def test_a_phrase_at_the_end_of_a_long_problem_is_not_diluted(model: CotModel) -> None:
    problem = "A tank holds 1200 litres and leaks 3% of its water every hour. " * 20
    plain, asked = model.score([problem, problem + " Let's think step by step."])
    assert asked > 0.8 > plain + 0.3


def test_system_prompt_and_prompt_combine_by_max() -> None:
    sig = SIGNALS["cot_score"]
    system = "You are a careful solver. Always think step by step and show your full reasoning."
    out = sig(prompts_batch(["What is 7 * 8?", "What is 7 * 8?"], [None, system])).to_numpy()
    assert out[1] > 0.8 and out[1] > out[0]


def test_the_prompt_score_reads_the_tasks_own_words_only() -> None:
    """An ask in a system prompt raises ``cot_score`` but not ``prompt_cot_score``; an ask in the prompt raises both
    alike; a null prompt has no prompt score."""
    system = "You are a careful solver. Always think step by step and show your full reasoning."
    batch = prompts_batch(["What is 7 * 8?", "What is 7 * 8? Think step by step and show all your reasoning.", None],
                          [system, None, system])
    words, prompt = SIGNALS["cot_score"](batch).to_pylist(), SIGNALS["prompt_cot_score"](batch).to_pylist()
    assert words[0] > 0.8 > prompt[0]
    assert prompt[1] > 0.8 and prompt[1] == pytest.approx(words[1])
    assert words[2] > 0.8 and prompt[2] is None


def test_training_is_deterministic() -> None:
    seed = cot_seed.load_seed()
    first = cot_train.train_cot_model(cot_seed.build_examples(seed))
    second = cot_train.train_cot_model(cot_seed.build_examples(seed))
    assert np.array_equal(first.weights, second.weights)
    assert first.intercept == second.intercept


def test_window_logits_match_the_training_features(model: CotModel) -> None:
    texts = ["", "a", "Show your work: 2 + 2", "長い日本語のテキスト。" * 40, "x" * 700]
    texts += ["한국어 mixed 中文 text 답", "語"]
    text = cot_features.prepare(pa.array(texts), model.cfg)
    win, logits = model.window_logits(text)
    features = cot_features.window_matrix(text, win, model.cfg)
    expected = features @ model.weights.astype(np.float64) + model.intercept
    assert np.allclose(logits, expected)


def test_held_out_phrasings_separate_in_every_language() -> None:
    result = heldout("phrasing", k=3)
    auroc = result.auroc()
    assert auroc["all"] > 0.97
    assert min(auroc[lang] for lang in ("en", "zh", "ru", "es", "de", "fr", "ja", "ko")) > 0.95


def test_short_grams_count_only_at_wide_characters() -> None:
    cfg = cot_features.CotFeatureConfig(ngrams=(3,), wide_ngrams=(1, 2))
    text = cot_features.prepare(pa.array(["abcd", "思考過程"]), cfg)  # padded: " abcd ", " 思考過程 "
    win = cot_features.windows(text, cfg)
    # windows of both scales, row by row; Latin row: the 3-grams " ab" "abc" "bcd" "cd ",
    # CJK row: 4 3-grams, 4 unigrams and 4 bigrams (the last one ends in the padding space)
    assert cot_features.gram_counts(text, win, cfg).tolist() == [4.0, 12.0, 4.0, 12.0]
    assert np.diff(cot_features.window_matrix(text, win, cfg).indptr).tolist() == [4, 12, 4, 12]


def test_each_language_weighs_the_same_in_training() -> None:
    # one stratum has 9x the rows of the other; balanced per (stratum, class), both get equal total weight,
    # so a feature that only the small stratum has is learned as strongly as one of the large stratum
    from scipy import sparse

    rows = [(0, 1)] * 9 + [(0, 0)] * 9 + [(1, 1)] + [(1, 0)]
    strata = np.array([s for s, _ in rows])
    y = np.array([label for _, label in rows])
    feature = np.where(y == 1, strata + 1, strata + 3)  # one feature per (stratum, class)
    x = sparse.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), feature - 1)), shape=(len(rows), 4))
    balanced, _ = cot_train.fit_logistic(x, y, c=1.0, strata=strata)
    pooled, _ = cot_train.fit_logistic(x, y, c=1.0)
    assert balanced[0] == pytest.approx(balanced[1], rel=0.05)
    assert pooled[0] > 1.5 * pooled[1]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("languages: {en: {carriers: []}}", "needs sections"),
        (
            "languages: {en: {carriers: [], elicit: [Answer: show steps], lookalike: [], "
            "system_elicit: [], system_plain: []}}",
            "non-string",
        ),
    ],
)
def test_seed_loader_rejects_a_malformed_file(monkeypatch: pytest.MonkeyPatch, doc: str, message: str) -> None:
    class FakeFile:
        def joinpath(self, _name: str) -> FakeFile:
            return self

        def read_text(self, _encoding: str) -> str:
            return doc

    monkeypatch.setattr(cot_seed.resources, "files", lambda _pkg: FakeFile())
    with pytest.raises(ValueError, match=message):
        cot_seed.load_seed()
