"""AUROC of the chain-of-thought elicitation model on sources it was never trained on.

    .venv/bin/python bench/cot_heldout.py [--corpus ../shared/data/prompts]
        [--templates ../shared/data/templates/reasoning-system-prompts.jsonl]

Prints AUROC per held-out source (SkyThought reasoning templates composed with
corpus problems against each real-prompt source), per language (held-out seed
phrasings against real prompts of that language, and against held-out seed
negatives of that language), and the share of each source at or above the
stats threshold; see :mod:`distillguard.eval.cot_heldout`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from distillguard.eval.cot_heldout import (
    auroc_by_language,
    auroc_by_source,
    collect,
    score_texts,
)

THRESHOLD = 0.5


def main() -> None:
    """Score the held-out sources and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/prompts"))
    parser.add_argument("--templates", type=Path, default=Path("../shared/data/templates/reasoning-system-prompts.jsonl"))
    parser.add_argument("--per-source", type=int, default=10_000, help="texts sampled per source at most")
    args = parser.parse_args()
    scored = score_texts(collect(args.corpus, args.templates, per_source=args.per_source))
    n_pos = int((scored.label == 1).sum())
    print(f"AUROC per held-out source ({n_pos:,} templated positives vs each negative source)")
    for name, value in auroc_by_source(scored).items():
        n = int((scored.source == name).sum()) if name != "all negatives" else int((scored.label == 0).sum())
        print(f"  {name:<40} {value:.4f}   ({n:,} negatives)")
    print("AUROC per language: held-out seed phrasings vs real prompts of the language | vs held-out seed negatives")
    for lang, a in auroc_by_language(scored).items():
        real = f"{a.real:.4f} ({a.real_negatives:,} real negatives)" if a.real is not None else "— (no real prompts)"
        print(f"  {lang:<4} {a.positives:>4,} positives   real {real:<30} seed-only {a.seed:.4f} "
              f"({a.seed_negatives:,} seed negatives)")
    neg = scored.label == 0
    fpr = float((scored.score[neg] >= THRESHOLD).mean())
    tpr = float((scored.score[~neg] >= THRESHOLD).mean())
    print(f"at the stats threshold {THRESHOLD}: TPR {tpr:.4f}, FPR {fpr:.4f} (median score of negatives "
          f"{float(np.median(scored.score[neg])):.4f})")
    for name in sorted(set(scored.source[neg].tolist())):
        m = scored.source == name
        print(f"  FPR {name:<40} {float((scored.score[m] >= THRESHOLD).mean()):.4f}")


if __name__ == "__main__":
    main()
