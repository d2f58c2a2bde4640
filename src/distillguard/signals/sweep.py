"""Dataset sweep: is a prompt an item of a known public prompt set?

:class:`PromptSetIndex` is built once from a directory of corpus files
(``*.jsonl`` rows with ``turns``, the format of ``../shared/data/prompts``).
Each item's first user turn is normalised (lower case, words of letters and
digits only) and cut into overlapping shingles of :data:`SHINGLE_WORDS` words;
the index keeps the sorted shingle hashes with the item each belongs to. A
prompt is a member when most of one item's shingles occur in it, so an item
wrapped in an instruction ("Think step by step. <item>") or with a reworded
wrapper still matches, and a prompt that merely shares a phrase does not.

:class:`DatasetSweepSignal` returns the matched item's id (a 64-bit hash,
null when the prompt is in no known set). Account statistics turn it into
sweep coverage: the share of an account's prompts that are known items and
how many distinct items they cover; a benchmark evaluator repeats a few
hundred items, a distiller sweeps ever-new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from distillguard.core.errors import ConfigError
from distillguard.core.ids import GOLDEN_GAMMA
from distillguard.core.jsonl import iter_jsonl
from distillguard.signals._text import column
from distillguard.signals.base import Batch, BatchContext, Signal

SHINGLE_WORDS = 6
MIN_CONTAINMENT = 0.6
"""Share of an item's shingles a prompt must contain to count as that item."""
MIN_ITEM_WORDS = 8
"""Shorter items ("Hi", "Write a poem") are too common to prove a sweep; they are not indexed."""
_NON_WORD = r"[^\p{L}\p{N}]+"
_MULT = np.uint64(0x100000001B3)
MAX_CHARS = 6000
"""Only the start of a text is shingled (the corpora cut items at 6,000 characters too)."""
FILTER_BITS = 23
_FILTER_SHIFT = np.uint64(64 - FILTER_BITS)


def shingle_table(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word shingles of every text at once: ``(text number, shingle hash, words per text)``.

    Texts (their first :data:`MAX_CHARS` characters) are lower-cased and split into words of letters and digits; each
    distinct word of the batch is hashed once (xxh64, stable across
    processes) and a shingle's hash combines its :data:`SHINGLE_WORDS` word
    hashes in order. Texts under SHINGLE_WORDS words have no shingle.
    """
    text = pc.utf8_slice_codeunits(texts.fill_null(""), 0, MAX_CHARS)
    words = pc.utf8_split_whitespace(pc.replace_substring_regex(pc.utf8_lower(text), _NON_WORD, " "))
    counts = pc.list_value_length(words).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(words).dictionary_encode()
    vocab = np.fromiter((xxhash.xxh64_intdigest(w.encode()) for w in flat.dictionary.to_pylist()), np.uint64,
                        count=len(flat.dictionary))
    word_hash = vocab[flat.indices.to_numpy(zero_copy_only=False)] if len(vocab) else np.zeros(0, np.uint64)
    n_sh = np.maximum(counts - SHINGLE_WORDS + 1, 0)
    starts = np.repeat(np.cumsum(counts) - counts, n_sh) + (np.arange(n_sh.sum()) - np.repeat(np.cumsum(n_sh) - n_sh, n_sh))
    sh = np.zeros(len(starts), np.uint64)
    with np.errstate(over="ignore"):
        for j in range(SHINGLE_WORDS):
            sh = sh * _MULT + word_hash[starts + j]
    return np.repeat(np.arange(len(counts)), n_sh), sh, counts


@dataclass(frozen=True, slots=True)
class PromptSetIndex:
    """Sorted shingle hashes of known prompt-set items, each with its item number."""

    keys: np.ndarray  # uint64, sorted
    item: np.ndarray  # int64, item number of each key
    item_shingles: np.ndarray  # int64, shingles per item
    item_id: np.ndarray  # uint64, stable id (hash of the normalised item)
    sources: tuple[str, ...]
    prefilter: np.ndarray  # bool, 2**FILTER_BITS: is any key's top-bits bucket set (rules out most misses cheaply)

    @classmethod
    def from_texts(cls, texts: Iterable[str], sources: Sequence[str] = ()) -> PromptSetIndex:
        """Index ``texts`` (one item each); items under MIN_ITEM_WORDS words are skipped."""
        arr = pa.array(list(texts), pa.string())
        pid, sh, counts = shingle_table(arr)
        kept = np.flatnonzero(counts >= MIN_ITEM_WORDS)
        if len(kept) == 0:
            raise ConfigError(f"prompt-set index: no item of at least {MIN_ITEM_WORDS} words")
        renumber = np.full(len(counts), -1, np.int64)
        renumber[kept] = np.arange(len(kept))
        item = renumber[pid]
        pairs = np.unique(np.stack([item[item >= 0].astype(np.uint64), sh[item >= 0]], axis=1), axis=0)
        item, key = pairs[:, 0].astype(np.int64), pairs[:, 1]
        order = np.argsort(key, kind="stable")
        normalised = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(arr.take(pa.array(kept))), _NON_WORD, " "))
        ids = np.fromiter((xxhash.xxh64_intdigest(t.encode()) for t in normalised.to_pylist()), np.uint64, count=len(kept))
        prefilter = np.zeros(1 << FILTER_BITS, bool)
        prefilter[key >> _FILTER_SHIFT] = True
        return cls(key[order], item[order], np.bincount(item, minlength=len(kept)), ids, tuple(sources), prefilter)

    @classmethod
    def from_directory(cls, directory: Path, kinds: Sequence[str] | None = ("distill",)) -> PromptSetIndex:
        """Index the first user turn of every row of ``directory/*.jsonl`` whose ``kind`` is in ``kinds``.

        The default indexes training and benchmark sets (``kind: distill``),
        the sets a distiller sweeps; ``kinds=None`` indexes every row.
        """
        paths = sorted(Path(directory).glob("*.jsonl"))
        if not paths:
            raise ConfigError(f"{directory}: no *.jsonl prompt sets")

        def texts() -> Iterable[str]:
            for path in paths:
                for number, row in iter_jsonl(path):
                    turns = row.get("turns")
                    if not isinstance(turns, list) or not turns or not isinstance(turns[0], str):
                        raise ConfigError(f"{path}:{number}: turns: expected a non-empty list of strings")
                    if kinds is None or row.get("kind") in kinds:
                        yield turns[0]

        return cls.from_texts(texts(), [p.stem for p in paths])

    def __len__(self) -> int:
        return len(self.item_shingles)

    def match(self, text: str | None) -> int | None:
        """The id of the known item ``text`` contains, or None."""
        return self.match_many(pa.array([text], pa.string()))[0]

    def match_many(self, texts: pa.Array) -> list[int | None]:
        """For each text, the id of the known item it contains (most of that item's shingles), or None."""
        out: list[int | None] = [None] * len(texts)
        pid, sh, _ = shingle_table(texts)
        if len(sh) == 0:
            return out
        maybe = self.prefilter[sh >> _FILTER_SHIFT]
        if not maybe.any():
            return out
        pid, sh = pid[maybe], sh[maybe]
        with np.errstate(over="ignore"):
            pair = sh ^ (pid.astype(np.uint64) * GOLDEN_GAMMA)
        _, first = np.unique(pair, return_index=True)  # a text's repeated shingle counts once
        first = first[np.argsort(sh[first], kind="stable")]  # sorted queries: cache-friendly search
        pid, sh = pid[first], sh[first]
        pos = np.minimum(np.searchsorted(self.keys, sh), len(self.keys) - 1)
        hit = self.keys[pos] == sh
        if not hit.any():
            return out
        n_items = len(self.item_shingles)
        combo, count = np.unique(pid[hit] * n_items + self.item[pos[hit]], return_counts=True)
        text_no, item = combo // n_items, combo % n_items
        containment = count / self.item_shingles[item]
        order = np.lexsort((-containment, text_no))
        first = order[np.r_[True, text_no[order][1:] != text_no[order][:-1]]]
        for k in first[containment[first] >= MIN_CONTAINMENT]:
            out[int(text_no[k])] = int(self.item_id[item[k]])
        return out


@dataclass(frozen=True)
class DatasetSweepSignal(Signal):
    """Id of the known prompt-set item the user prompt contains (null: none), from a :class:`PromptSetIndex`.

    Not in the default registry: it needs an index built from a corpus
    directory, which the deployment chooses.
    """

    index: PromptSetIndex
    name: str = "sweep_item"
    dtype: pa.DataType = pa.uint64()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        prompts = column(batch, "prompt").dictionary_encode()
        found = pa.array(self.index.match_many(prompts.dictionary), type=self.dtype)
        return found.take(prompts.indices)
