"""The hand-written seed set of the chain-of-thought model and the labelled texts composed from it.

``data/cot_seed.yaml`` holds multilingual elicitation phrasings, look-alikes,
system prompts and ordinary tasks ("carriers"); :func:`build_examples`
composes them into training and evaluation texts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

SPAN_MARK = "<<X>>"
"""Where a phrasing that wraps its task puts the task."""


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
