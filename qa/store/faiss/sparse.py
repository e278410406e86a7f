"""BM25 over the chunks (bm25s, numpy backend), keyed by the docstore's row ids.

Rebuilt from the docstore whenever a generation is published: indexing is a
sparse-matrix build, cheap next to embedding the changed chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt

from qa.text import lexical_tokens

SPARSE_DIR = "sparse"
_ROW_IDS = "row_ids.npy"

logging.getLogger("bm25s").setLevel(logging.WARNING)


class SparseIndex:
    def __init__(self, model: bm25s.BM25 | None, row_ids: npt.NDArray[np.int64]) -> None:
        self._model = model
        self._row_ids = row_ids

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str]]) -> SparseIndex:
        row_ids: list[int] = []
        corpus: list[list[str]] = []
        for row_id, text in rows:
            row_ids.append(row_id)
            corpus.append(lexical_tokens(text) or [""])
        if not corpus:
            return cls(None, np.zeros(0, dtype=np.int64))
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        return cls(model, np.asarray(row_ids, dtype=np.int64))

    @classmethod
    def load(cls, folder: Path) -> SparseIndex:
        path = folder / SPARSE_DIR
        row_ids = np.load(path / _ROW_IDS)
        if not len(row_ids):
            return cls(None, row_ids)
        model = bm25s.BM25.load(str(path), show_progress=False, mmap=False)
        return cls(model, row_ids)

    def save(self, folder: Path) -> list[Path]:
        path = folder / SPARSE_DIR
        path.mkdir(exist_ok=True)
        np.save(path / _ROW_IDS, self._row_ids)
        if self._model is not None:
            self._model.save(str(path), show_progress=False)
        return sorted(p for p in path.iterdir() if p.is_file())

    @property
    def size(self) -> int:
        return len(self._row_ids)

    def ids(self) -> npt.NDArray[np.int64]:
        return np.sort(self._row_ids)

    def search(
        self, query: str, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        tokens = lexical_tokens(query)
        if self._model is None or not tokens or k <= 0:
            return []
        scores = np.asarray(self._model.get_scores(tokens), dtype=np.float32)
        if allowed is not None:
            mask = np.isin(self._row_ids, np.asarray(allowed, dtype=np.int64))
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._row_ids[i]), float(scores[i])) for i in top if scores[i] > 0]
