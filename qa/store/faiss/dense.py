"""Dense vectors in FAISS, keyed by the docstore's chunk row ids.

Two index types sit behind one class, both inside an IndexIDMap2 so that row ids
and deletes work the same way: exact inner product (IndexFlatIP) and approximate
HNSW (IndexHNSWFlat, inner product). The type follows the collection's size at
each publish (see DensePolicy). FAISS cannot take a vector out of an HNSW graph,
so a deleted one stays in it under a negative id, a tombstone every search
excludes, until tombstones pass `hnsw_max_deleted` of the graph; then the graph is
rebuilt from the live vectors its flat storage still holds. Readers map the file
(IO_FLAG_MMAP_IFC): opening a fresh generation copies nothing, and every process
serving it shares the pages.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

from qa.models.protocols import Vectors
from qa.settings import Settings

# One OpenMP thread: on two cores the pool's spinning costs more than it gives
# (flat search measured 2.5x faster, HNSW builds 1.5x faster), and the API already
# runs requests in parallel. OpenMP keeps the setting per thread: a thread that never
# set it (the API's search threads, the ingestion worker) gets a pool the size of the
# machine, which made a search of 86 vectors spend most of a request spinning. So
# every thread sets it before its first search or add.
_omp = threading.local()


def _one_omp_thread() -> None:
    if not getattr(_omp, "set", False):
        faiss.omp_set_num_threads(1)
        _omp.set = True


_one_omp_thread()

DENSE_FILE = "dense.faiss"
DenseKind = Literal["flat", "hnsw"]
_LIVE_IDS = (0, int(np.iinfo(np.int64).max))


@dataclass(frozen=True)
class DensePolicy:
    """Which index type a collection gets, and how HNSW is built and searched."""

    index: Literal["auto", "flat", "hnsw"]
    hnsw_threshold: int
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_search: int
    hnsw_max_deleted: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DensePolicy:
        return cls(
            index=settings.dense_index,
            hnsw_threshold=settings.hnsw_threshold,
            hnsw_m=settings.hnsw_m,
            hnsw_ef_construction=settings.hnsw_ef_construction,
            hnsw_ef_search=settings.hnsw_ef_search,
            hnsw_max_deleted=settings.hnsw_max_deleted,
        )

    def kind_for(self, live: int, current: DenseKind) -> DenseKind:
        if self.index != "auto":
            return self.index
        # A collection hovering at the threshold must not pay a graph build every
        # other publish: once HNSW, it stays so until it shrinks to half the threshold.
        floor = self.hnsw_threshold // 2 if current == "hnsw" else self.hnsw_threshold
        return "hnsw" if live > floor else "flat"


def _new_index(dimension: int, kind: DenseKind, policy: DensePolicy) -> Any:
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    inner = faiss.IndexHNSWFlat(dimension, policy.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = policy.hnsw_ef_construction
    return faiss.IndexIDMap2(inner)


class FaissIndex:
    """Inner-product search over unit vectors (cosine similarity), exact or HNSW."""

    def __init__(self, index: Any, policy: DensePolicy, *, writable: bool = True) -> None:
        # FAISS's generated stubs miss the IDMap, HNSW and selector APIs used here.
        self._index: Any = index
        self._inner: Any = faiss.downcast_index(index.index)
        self._policy = policy
        self._writable = writable
        self._tombstones = int((self._id_map() < 0).sum()) if self.kind == "hnsw" else 0
        self._sorted_ids: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None

    @classmethod
    def empty(cls, dimension: int, policy: DensePolicy, kind: DenseKind = "flat") -> FaissIndex:
        return cls(_new_index(dimension, kind, policy), policy)

    @classmethod
    def load(cls, folder: Path, policy: DensePolicy, *, mmap: bool = False) -> FaissIndex:
        """With mmap=True the file is mapped read-only (for readers): writing into the
        mapping would crash the process, so such an index refuses changes."""
        flags = faiss.IO_FLAG_MMAP_IFC if mmap else 0
        index = faiss.read_index(str(folder / DENSE_FILE), flags)
        return cls(index, policy, writable=not mmap)

    @property
    def kind(self) -> DenseKind:
        return "hnsw" if isinstance(self._inner, faiss.IndexHNSW) else "flat"

    @property
    def size(self) -> int:
        """Live vectors: tombstones do not count."""
        return int(self._index.ntotal) - self._tombstones

    @property
    def deleted(self) -> int:
        return self._tombstones

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this index."""
        info: dict[str, Any] = {"kind": self.kind, "vectors": self.size}
        if self.kind == "hnsw":
            info |= {
                "m": int(self._inner.hnsw.nb_neighbors(1)),
                "ef_construction": int(self._inner.hnsw.efConstruction),
                "deleted": self._tombstones,
            }
        return info

    def _check_writable(self) -> None:
        if not self._writable:
            raise RuntimeError("this dense index is memory-mapped read-only; load it to change it")

    def _id_map(self) -> npt.NDArray[np.int64]:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def _matrix(self) -> npt.NDArray[np.float32]:
        """All stored vectors (tombstones included) in internal order, without a copy."""
        flat: Any = (
            self._inner if self.kind == "flat" else faiss.downcast_index(self._inner.storage)
        )
        n = int(self._index.ntotal)
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dimension).reshape(n, self.dimension)

    def add(self, ids: Sequence[int], vectors: Vectors) -> None:
        self._check_writable()
        if len(ids):
            _one_omp_thread()
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            self._sorted_ids = None

    def remove(self, ids: Sequence[int]) -> None:
        self._check_writable()
        if not len(ids):
            return
        wanted = np.asarray(ids, dtype=np.int64)
        if self.kind == "flat":
            self._index.remove_ids(wanted)
        else:
            id_map = self._id_map()
            hit = np.isin(id_map, wanted)
            first = self._tombstones + 1
            id_map[hit] = -np.arange(first, first + int(hit.sum()), dtype=np.int64)
            faiss.copy_array_to_vector(id_map, self._index.id_map)
            self._index.construct_rev_map()
            self._tombstones += int(hit.sum())
        self._sorted_ids = None

    def live(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Row ids and vectors of everything not deleted, in insertion order."""
        id_map = self._id_map()
        keep = id_map >= 0
        return id_map[keep], np.ascontiguousarray(self._matrix()[keep])

    def fitted(self) -> FaissIndex:
        """This index as the policy wants it for its size: converted to the other type,
        or a graph rebuilt without its tombstones once they are too many; else itself."""
        kind = self._policy.kind_for(self.size, self.kind)
        crowded = self._tombstones > self._policy.hnsw_max_deleted * int(self._index.ntotal)
        if kind == self.kind and not crowded:
            return self
        ids, vectors = self.live()
        index = FaissIndex.empty(self.dimension, self._policy, kind)
        index.add(ids.tolist(), vectors)
        return index

    def search(
        self, query: Vectors, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        if self.size == 0 or k <= 0 or (allowed is not None and not len(allowed)):
            return []
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        hnsw = self.kind == "hnsw"
        if hnsw and allowed is not None and len(allowed) <= self._policy.hnsw_threshold:
            return self._exact_subset(query[0], k, allowed)
        selector: Any = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        elif self._tombstones:
            selector = faiss.IDSelectorRange(*_LIVE_IDS)
        params: Any = None
        if hnsw:
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(self._policy.hnsw_ef_search, k)
            params.sel = selector
        elif selector is not None:
            params = faiss.SearchParameters()
            params.sel = selector
        _one_omp_thread()
        scores, ids = self._index.search(query, min(k, self.size), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _exact_subset(
        self, query: Vectors, k: int, allowed: Sequence[int]
    ) -> list[tuple[int, float]]:
        """Exact scores over a filter's rows. HNSW under a restrictive selector misses
        neighbours, and a subset no bigger than the HNSW threshold is one a collection
        of that size would scan exactly anyway."""
        if self._sorted_ids is None:
            id_map = self._id_map()
            order = np.argsort(id_map, kind="stable")
            self._sorted_ids = (id_map[order], order)
        sorted_ids, order = self._sorted_ids
        wanted = np.asarray(allowed, dtype=np.int64)
        at = np.clip(np.searchsorted(sorted_ids, wanted), 0, len(sorted_ids) - 1)
        found = sorted_ids[at] == wanted
        rows, positions = wanted[found], order[at[found]]
        if not len(rows):
            return []
        scores = self._matrix()[positions] @ query
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(rows[i]), float(scores[i])) for i in top]

    def ids(self) -> npt.NDArray[np.int64]:
        """Live row ids, sorted."""
        id_map = self._id_map()
        return np.sort(id_map[id_map >= 0])

    def save(self, folder: Path) -> Path:
        path = folder / DENSE_FILE
        faiss.write_index(self._index, str(path))
        return path
