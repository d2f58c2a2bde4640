"""Held-out evaluation of the chain-of-thought elicitation model on its seed set.

Two honest splits, both reported per language as AUROC:

* ``by="phrasing"`` — k folds over seed phrasings *and* carriers: a fold's
  phrasings (positive and negative) and carriers are absent from training and
  composed only with each other for testing;
* ``by="language"`` — leave one language out entirely (its phrasings and
  carriers), train on the others, test on it: the cross-lingual transfer of
  the character n-gram model, expected to be weak for other scripts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from distillguard.signals.cot_features import CotFeatureConfig
from distillguard.signals.cot_model import CotModel
from distillguard.signals.cot_seed import Example, build_examples, load_seed
from distillguard.signals.cot_train import train_cot_model

Seed = Mapping[str, Mapping[str, Sequence[str]]]


@dataclass(frozen=True, slots=True)
class HeldOutResult:
    """Scores of held-out examples, with their language and label."""

    lang: np.ndarray
    label: np.ndarray
    score: np.ndarray

    def auroc(self) -> dict[str, float]:
        """AUROC per language and over everything (key ``"all"``)."""
        from sklearn.metrics import roc_auc_score

        out: dict[str, float] = {}
        for lang in [*sorted(set(self.lang.tolist())), "all"]:
            m = np.ones(len(self.lang), bool) if lang == "all" else self.lang == lang
            if len(set(self.label[m].tolist())) == 2:
                out[lang] = float(roc_auc_score(self.label[m], self.score[m]))
        return out


def _fold(text: str, k: int) -> int:
    return xxhash.xxh64_intdigest(text.encode("utf-8")) % k


def _fold_subset(seed: Seed, k: int, fold: int, *, held_out: bool) -> dict[str, dict[str, list[str]]]:
    """The phrasings and carriers of ``seed`` in fold ``fold`` of ``k`` (``held_out``), or in the other folds."""
    return {
        lang: {sec: [p for p in phrases if (_fold(p, k) == fold) == held_out] for sec, phrases in secs.items()}
        for lang, secs in seed.items()
    }


def _score(examples: Sequence[Example], model: CotModel) -> HeldOutResult:
    return HeldOutResult(
        np.array([e.lang for e in examples]),
        np.array([e.label for e in examples]),
        model.score([e.text for e in examples]),
    )


def _concat(parts: Sequence[HeldOutResult]) -> HeldOutResult:
    return HeldOutResult(
        np.concatenate([p.lang for p in parts]),
        np.concatenate([p.label for p in parts]),
        np.concatenate([p.score for p in parts]),
    )


def heldout(
    by: str = "phrasing",
    k: int = 5,
    seed: Seed | None = None,
    cfg: CotFeatureConfig | None = None,
    c: float | None = None,
    neg_weight: float | None = None,
) -> HeldOutResult:
    """Train without held-out phrasings (or a language) and score them; see module doc.

    ``c`` and ``neg_weight`` override the defaults of :func:`train_cot_model`.
    """
    seed = seed or load_seed()
    kw = {k: v for k, v in (("c", c), ("neg_weight", neg_weight)) if v is not None}
    parts: list[HeldOutResult] = []
    if by == "phrasing":
        for f in range(k):
            train_seed: Seed = _fold_subset(seed, k, f, held_out=False)
            test_seed = _fold_subset(seed, k, f, held_out=True)
            model = train_cot_model(build_examples(train_seed), cfg, **kw)
            test = build_examples(test_seed, rng_seed=1000 + f, cross_lingual=0.25)
            parts.append(_score(test, model))
    elif by == "language":
        for lang in sorted(seed):
            train_seed = {x: s for x, s in seed.items() if x != lang}
            model = train_cot_model(build_examples(train_seed), cfg, **kw)
            test = build_examples({lang: seed[lang]}, rng_seed=2000, cross_lingual=0.0)
            parts.append(_score(test, model))
    else:
        raise ValueError(f"heldout(by=...) must be 'phrasing' or 'language', not {by!r}")
    return _concat(parts)
