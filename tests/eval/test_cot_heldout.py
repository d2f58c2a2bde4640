"""The chain-of-thought model scored on a small fixture of sources it was never trained on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillguard.core.errors import ConfigError
from distillguard.eval.cot_heldout import (
    auroc_by_language,
    auroc_by_source,
    collect,
    fill_template,
    score_texts,
)

# Written for this test: not from the seed set, the simulator's phrasebook or the shared corpora.
PROBLEMS = [
    "A shop sells pens at 3 dollars each and notebooks at 7 dollars each. "
    "Lena buys 4 pens and 2 notebooks. How much does she pay?",
    "Find the remainder when 7^100 is divided by 13.",
    "How many positive divisors does 360 have?",
    "The sum of three consecutive odd integers is 147. What is the largest of them?",
    "A rectangle has a diagonal of 13 and one side of 5. What is its area?",
    "Solve for y: 4y - 9 = 2y + 15.",
]
USER_PROMPTS = [
    "Explain how a hash map handles collisions, with a short example in Java.",
    "What are the steps to renew a passport in Canada?",
    "Why does my sourdough not rise? I feed the starter every day.",
    "Write a limerick about a cat who learns to code.",
    "Can you explain the difference between TCP and UDP for a beginner?",
    "Give me a packing list for a three-day hiking trip in autumn.",
    "How do I think about pricing for a small bakery's wedding cakes?",
    "Summarise the plot of Hamlet in five sentences.",
]
TEMPLATES = [
    {"id": "fx:system:deliberate", "text": "Before every answer, reason at length: break the problem into parts, "
     "work through each one step by step, check your intermediate results, and only then give the final answer."},
    {"id": "fx:task:boxed:template",
     "text": "{prompt}\nPlease reason step by step, and put your final answer within \\boxed{{}}."},
    {"id": "fx:user-template:plain", "text": "Q: {} A:"},
]


def _write(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "prompts"
    corpus.mkdir()
    with (corpus / "homework.jsonl").open("w") as f:
        for i, p in enumerate(PROBLEMS):
            f.write(json.dumps({"id": f"homework:{i}", "kind": "distill", "capability": "reasoning", "turns": [p]}) + "\n")
    with (corpus / "chat.jsonl").open("w") as f:
        for i, p in enumerate(USER_PROMPTS):
            f.write(json.dumps({"id": f"chat:{i}", "kind": "legit", "capability": "general", "turns": [p]}) + "\n")
    templates = tmp_path / "templates.jsonl"
    templates.write_text("".join(json.dumps(t) + "\n" for t in TEMPLATES))
    return corpus, templates


def test_heldout_sources_separate_elicitation_from_hard_negatives(tmp_path: Path) -> None:
    corpus, templates = _write(tmp_path)
    sources = collect(corpus, templates, per_source=40)
    assert all(label == 1 for _, _, label in sources["templates"])
    assert not any("Q: " in prompt for _, prompt, _ in sources["templates"])  # format-only wrapper left out
    auroc = auroc_by_source(score_texts(sources))
    assert set(auroc) >= {"bare-problems", "chat", "chat (step/explain/why)", "all negatives"}
    for name, value in auroc.items():
        assert value >= 0.95, (name, value)


def test_every_seed_language_is_reported_and_real_only_where_real_prompts_exist(tmp_path: Path) -> None:
    corpus, templates = _write(tmp_path)
    by_lang = auroc_by_language(score_texts(collect(corpus, templates, per_source=40)), k=3)
    assert set(by_lang) == {"en", "zh", "ru", "es", "de", "fr", "ja", "ko"}
    assert by_lang["en"].real is not None and by_lang["en"].real_negatives > 0
    assert by_lang["ja"].real is None and by_lang["ja"].real_negatives == 0  # the fixture has English prompts only
    for lang, result in by_lang.items():
        assert result.positives > 0 and result.seed_negatives > 0, lang
        assert result.seed > 0.9, (lang, result.seed)


def test_fill_template_keeps_literal_braces() -> None:
    assert fill_template("{prompt} within \\boxed{{}}", "1+1?") == "1+1? within \\boxed{}"
    assert fill_template("Question: {} Answer:", "x?") == "Question: x? Answer:"


def test_bad_corpus_row_names_file_and_line(tmp_path: Path) -> None:
    corpus, templates = _write(tmp_path)
    (corpus / "broken.jsonl").write_text('{"id": "b:0", "kind": "legit", "turns": ["hi"]}\nnot json\n')
    with pytest.raises(ConfigError, match=r"broken\.jsonl:2"):
        collect(corpus, templates)
