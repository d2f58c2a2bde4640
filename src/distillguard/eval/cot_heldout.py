"""The chain-of-thought elicitation model scored on sources it was never trained on.

The shipped model learns only from its hand-written seed (``signals/data/cot_seed.yaml``);
every source here is unseen by it:

* **positives** — the reasoning templates of a template file (SkyThought's
  long-thinking and step-by-step system prompts, ``\\boxed{}`` and "final
  answer is" task templates), each composed with problems of the corpus's
  ``distill`` reasoning files; templates that only wrap or format a question
  (role wrappers, code-format and multiple-choice instructions) elicit no
  reasoning and are left out (:data:`FORMAT_ONLY_TEMPLATES`);
* **hard negatives** — real user prompts (``legit`` corpus files: ShareGPT,
  Arena-Hard, BFCL live), reported for all prompts and for the ones that
  mention steps, explaining, reasons or thinking; and the bare problems of the
  reasoning files, without any elicitation.

AUROC is reported per source (positives against each negative source) and per
language. Real elicitation in other languages comes from no public source, so
per language the positives are the seed phrasings held out fold by fold
(:func:`distillguard.signals.cot_eval.heldout`), scored against the real prompts
of that language (language by :func:`distillguard.signals.lang.guess_languages`).
The corpora hold no real prompts in some languages (Japanese, Russian); for every
language the seed-only figure is given beside it: the same held-out phrasings
against the held-out seed negatives (lookalikes, carriers, plain system prompts)
of that language.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.metrics import roc_auc_score

from distillguard.core.errors import ConfigError
from distillguard.core.jsonl import iter_jsonl
from distillguard.signals.cot_eval import heldout
from distillguard.signals.cot_model import CotModel
from distillguard.signals.cot_train import default_cot_model
from distillguard.signals.lang import guess_languages

FORMAT_ONLY_TEMPLATES = re.compile(r":(user-template:|task:apps:|task:taco:|task:arc_c:)")
"""Template ids that wrap or format a question without asking for reasoning."""
HARD_WORDS = re.compile(r"\b(step|steps|explain|explanation|reason|reasoning|think|thinking|why|how)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{(prompt|problem|question|input|)\}")


@dataclass(frozen=True, slots=True)
class ScoredTexts:
    """Texts' scores with their source, language and label (1 = elicits reasoning)."""

    source: np.ndarray
    lang: np.ndarray
    label: np.ndarray
    score: np.ndarray


def _rows(path: Path) -> Iterable[dict]:
    return (row for _, row in iter_jsonl(path))


def fill_template(template: str, problem: str) -> str:
    """A template with its placeholder replaced by ``problem`` (``{{}}`` is a literal ``{}``)."""
    text = template.replace("{{}}", "\x00")
    text = _PLACEHOLDER.sub(lambda _m: problem, text, count=1).replace("{choices_text}", "")
    return text.replace("\x00", "{}").replace("{actions}", "")


def collect(corpus_dir: Path, templates_path: Path, per_source: int = 400,
            seed: int = 0) -> dict[str, list[tuple[str, str, int]]]:
    """Texts per source: ``(system, prompt, label)``, at most ``per_source`` of each, sampled reproducibly."""
    rng = random.Random(seed)
    problems: list[str] = []
    legit: dict[str, list[str]] = {}
    for path in sorted(Path(corpus_dir).glob("*.jsonl")):
        for row in _rows(path):
            turns = row.get("turns") or []
            if not turns or not isinstance(turns[0], str):
                raise ConfigError(f"{path}: row {row.get('id')!r} has no user turn")
            if row.get("kind") == "legit":
                legit.setdefault(path.stem, []).append(turns[0])
            elif row.get("capability") == "reasoning":
                problems.append(turns[0])
    if not problems or not legit:
        raise ConfigError(f"{corpus_dir}: need reasoning 'distill' rows and 'legit' rows")
    templates = []
    for row in _rows(Path(templates_path)):
        if not FORMAT_ONLY_TEMPLATES.search(str(row.get("id", ""))):
            templates.append((str(row["id"]), str(row["text"])))
    out: dict[str, list[tuple[str, str, int]]] = {"templates": []}
    for _ in range(per_source):
        tid, text = rng.choice(templates)
        problem = rng.choice(problems)
        if ":system:" in tid:
            out["templates"].append((text, problem, 1))
        else:
            out["templates"].append(("", fill_template(text, problem), 1))
    out["bare-problems"] = [("", p, 0) for p in rng.sample(problems, min(per_source, len(problems)))]
    for name, texts in sorted(legit.items()):
        out[name] = [("", t, 0) for t in rng.sample(texts, min(per_source, len(texts)))]
        hard = [t for t in texts if HARD_WORDS.search(t)]
        out[f"{name} (step/explain/why)"] = [("", t, 0) for t in rng.sample(hard, min(per_source, len(hard)))]
    return out


def score_texts(sources: dict[str, list[tuple[str, str, int]]], model: CotModel | None = None) -> ScoredTexts:
    """Score every text as the ``cot_score`` signal does: the larger of system and prompt scores."""
    model = model or default_cot_model()
    names, systems, prompts, labels = [], [], [], []
    for name, rows in sources.items():
        for system, prompt, label in rows:
            names.append(name)
            systems.append(system)
            prompts.append(prompt)
            labels.append(label)
    score = np.maximum(model.score(prompts), model.score(systems))
    lang = guess_languages(pa.array(prompts, pa.string()))
    return ScoredTexts(np.array(names, object), np.asarray(lang, object), np.array(labels), score)


def auroc_by_source(scored: ScoredTexts) -> dict[str, float]:
    """AUROC of the positives against each negative source."""
    pos = scored.label == 1
    out = {}
    for name in sorted(set(scored.source[~pos].tolist())):
        neg = scored.source == name
        y = np.r_[np.ones(pos.sum()), np.zeros(neg.sum())]
        out[name] = float(roc_auc_score(y, np.r_[scored.score[pos], scored.score[neg]]))
    neg = ~pos
    out["all negatives"] = float(roc_auc_score(scored.label, scored.score))
    return out


@dataclass(frozen=True, slots=True)
class LanguageAuroc:
    """Held-out seed phrasings of one language against its real prompts and its held-out seed negatives.

    ``real`` is None when the corpora hold no real prompt of the language.
    """

    positives: int
    real: float | None
    real_negatives: int
    seed: float
    seed_negatives: int


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))


def auroc_by_language(scored: ScoredTexts, k: int = 5) -> dict[str, LanguageAuroc]:
    """Per seed language: held-out phrasings against real prompts and against held-out seed negatives."""
    held = heldout("phrasing", k=k)
    out = {}
    real = scored.label == 0
    for lang in sorted(set(held.lang.tolist())):
        pos = held.score[(held.lang == lang) & (held.label == 1)]
        seed_neg = held.score[(held.lang == lang) & (held.label == 0)]
        neg = scored.score[real & (scored.lang == lang)]
        if len(pos) and len(seed_neg):
            real_auroc = _auroc(pos, neg) if len(neg) else None
            out[lang] = LanguageAuroc(len(pos), real_auroc, len(neg), _auroc(pos, seed_neg), len(seed_neg))
    return out
