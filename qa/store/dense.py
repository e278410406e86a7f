"""Dense vectors in FAISS, keyed by the docstore's chunk row ids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np
import numpy.typing as npt

from qa.models.protocols import Vectors

# One OpenMP thread: on two cores the pool's spinning costs more than it gives
# (flat search measured 2.5x faster), and the API already runs requests in parallel.
faiss.omp_set_num_threads(1)

DENSE_FILE = "dense.faiss"


class VectorIndex(Protocol):
    @property
    def size(self) -> int: ...

    def add(self, ids: Sequence[int], vectors: Vectors) -> None: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def search(
        self, query: Vectors, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]: ...

    def ids(self) -> npt.NDArray[np.int64]: ...

    def save(self, folder: Path) -> Path: ...


class FaissIndex:
    """Exact inner-product search over unit vectors (cosine similarity)."""

    def __init__(self, index: faiss.Index) -> None:
        # FAISS's generated stubs miss the IDMap and selector APIs used here.
        self._index: Any = index

    @classmethod
    def empty(cls, dimension: int) -> FaissIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    @classmethod
    def load(cls, folder: Path) -> FaissIndex:
        return cls(faiss.read_index(str(folder / DENSE_FILE)))

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def add(self, ids: Sequence[int], vectors: Vectors) -> None:
        if len(ids):
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(
        self, query: Vectors, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        if self.size == 0 or k <= 0 or (allowed is not None and not len(allowed)):
            return []
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(  # type: ignore[call-arg]
                sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            )
        scores, ids = self._index.search(query.reshape(1, -1), min(k, self.size), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def ids(self) -> npt.NDArray[np.int64]:
        return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))

    def save(self, folder: Path) -> Path:
        path = folder / DENSE_FILE
        faiss.write_index(self._index, str(path))
        return path
