"""A cheap language guess of the prompt, for per-language reporting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.signals._text import (
    CYRILLIC_RANGES,
    HAN_RANGES,
    HANGUL_RANGES,
    KANA_RANGES,
    CodePoints,
    Lexicon,
    as_text,
    column,
    decode,
    head_tail,
    in_ranges,
    row_sums,
    segment_sums,
    tokenize,
)
from distillguard.signals.base import Batch, BatchContext, Signal

LANGS: tuple[str, ...] = ("en", "zh", "ru", "es", "de", "fr", "ja", "ko", "other")

#: Function words that tell the Latin-script languages apart. A word may be listed
#: under several languages (then it counts for each). Spanish "y" is left out: in
#: English maths and code it is a variable name.
STOPWORDS: dict[str, tuple[str, ...]] = {
    "en": tuple(
        "the and is are of to in that it for with what how this you be on can please my your "
        "i an do does was were which from will would should have has not this there their me".split()
    ),
    "es": tuple(
        "el la los las del que es por para con una cómo qué se lo mi al está son pero como "
        "más muy puedes tengo esto esta me mis tus pero también hay cuál dónde".split()
    ),
    "de": tuple(
        "der die das und ist nicht ein eine zu mit ich sie es auf für wie was den dem sich bitte "
        "auch oder kann wir sind von einen mir mich dich du kannst meine ein bei".split()
    ),
    "fr": tuple(
        "le la les des et est une du que qui pour dans pas avec je vous il ce sur au comment "
        "quelle quel sont mon ma être cette tu mes moi mais nous ton ta tes ses vos peux est-ce".split()
    ),
}
_LEXICON = Lexicon(STOPWORDS)
_LATIN = ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F))
# script classes, in the column order of the per-row count matrix
_SCRIPTS = ("latin", "cyrillic", "han", "kana", "hangul")
HEAD_CHARS = 200


def _script_table() -> np.ndarray:
    """Script class per BMP code point: index into ``_SCRIPTS`` + 1, or 0 for anything else."""
    cp = np.arange(0x10000, dtype=np.uint32)
    table = np.zeros(0x10000, dtype=np.uint8)
    for k, ranges in enumerate((_LATIN, CYRILLIC_RANGES, HAN_RANGES, KANA_RANGES, HANGUL_RANGES)):
        table[in_ranges(cp, ranges)] = k + 1
    table.flags.writeable = False
    return table


_SCRIPT = _script_table()
# a per-code-point increment with one 12-bit counter per script
_PACKED = np.where(_SCRIPT > 0, np.left_shift(1, 12 * (_SCRIPT.astype(np.int64) - 1)), 0).astype(np.int64)
_PACKED.flags.writeable = False


def _script_counts(text: CodePoints) -> np.ndarray:
    """Letters of each script per row, ``(n_rows, 5)``; rows must be shorter than 4096 chars.

    One segmented sum of packed counters (12 bits per script) instead of one per script.
    """
    per_row = segment_sums(_PACKED[np.minimum(text.cp, 0xFFFF)], text.starts)
    return np.stack([(per_row >> (12 * k)) & 0xFFF for k in range(len(_SCRIPTS))], axis=1)


def guess_languages(texts: pa.Array) -> np.ndarray:
    """Return a language code from :data:`LANGS` per text (object array).

    Rules, in order, on the first 200 characters: no letters → ``other``;
    Hangul ≥ 30 % of letters → ``ko``; kana present (≥ 10 % of Han+kana) and
    Han+kana ≥ 30 % → ``ja``; Han ≥ 30 % → ``zh``; Cyrillic ≥ 50 % → ``ru``;
    Latin ≥ 50 % → the language with most stopword hits among en/es/de/fr
    (ties in that order) when it has two or more hits (one suffices for
    ASCII-only text), ``en`` for ASCII-only text without hits, else ``other``.
    """
    text = decode(pc.utf8_lower(head_tail(as_text(texts), HEAD_CHARS, 0)))
    n = text.n_rows
    out = np.full(n, "other", dtype=object)
    if n == 0:
        return out
    sc = _script_counts(text)
    latin, cyr, han, kana, hangul = (sc[:, k].astype(np.float64) for k in range(5))
    letters = sc.sum(axis=1).astype(np.float64)

    def share(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(letters > 0, x / letters, 0.0)

    cjk = han + kana
    is_ko = share(hangul) >= 0.3
    is_ja = ~is_ko & (kana >= np.maximum(1, 0.1 * cjk)) & (share(cjk) >= 0.3)
    is_zh = ~is_ko & ~is_ja & (share(han) >= 0.3)
    is_ru = ~is_ko & ~is_ja & ~is_zh & (share(cyr) >= 0.5)
    is_latin = ~is_ko & ~is_ja & ~is_zh & ~is_ru & (share(latin) >= 0.5)
    out[is_ko] = "ko"
    out[is_ja] = "ja"
    out[is_zh] = "zh"
    out[is_ru] = "ru"
    if is_latin.any():
        hits = _LEXICON.counts(tokenize(text), n)
        best = np.argmax(hits, axis=1)
        has_hits = hits.max(axis=1) > 0
        ascii_letters = row_sums((text.cp >= 0xC0) & (_SCRIPT[np.minimum(text.cp, 0xFFFF)] == 1), text.starts) == 0
        names = np.array(_LEXICON.classes, dtype=object)
        sure = has_hits & ((hits.max(axis=1) >= 2) | ascii_letters)
        out[is_latin & sure] = names[best[is_latin & sure]]
        out[is_latin & ~has_hits & ascii_letters] = "en"
    return out


@dataclass(frozen=True)
class LanguageSignal(Signal):
    """Language of the prompt: en, zh, ru, es, de, fr, ja, ko or other; null when the prompt is null.

    Script shares of the first 200 characters, then stopword counts among the
    Latin-script languages (see :func:`guess_languages`).
    """

    name: str = "lang"
    inputs = ("prompt",)
    dtype: pa.DataType = pa.string()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        prompt = column(batch, "prompt")
        langs = guess_languages(prompt)
        return pa.array(langs, type=self.dtype, mask=pc.is_null(prompt).to_numpy(zero_copy_only=False))
