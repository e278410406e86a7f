"""One published generation of a FAISS-backed collection, opened for searching."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from qa.errors import IndexCorruptError
from qa.models.protocols import Vectors
from qa.records import Document, SearchHit, SearchRequest, StoredChunk
from qa.store.faiss.dense import DensePolicy, FaissIndex
from qa.store.faiss.docstore import DOCSTORE_FILE, DocStore
from qa.store.faiss.sparse import SparseIndex
from qa.store.fusion import ranked_hits
from qa.store.manifest import Manifest


class FaissReader:
    """One opened generation: read-only, safe to share between threads."""

    def __init__(self, root: Path, folder: Path, policy: DensePolicy) -> None:
        self.root = root
        self.folder = folder
        self.manifest = Manifest.read(folder)
        # Token sets of chunks already seen by the near-duplicate filter: a generation
        # never changes, and re-tokenising every candidate took two thirds of the
        # search time left once the query vector is cached (docs/PERFORMANCE.md).
        self._tokens: dict[int, set[str]] = {}
        try:
            self.docstore = DocStore(folder / DOCSTORE_FILE, readonly=True)
            self.dense = FaissIndex.load(folder, policy, mmap=True)
            self.sparse = SparseIndex.load(folder)
        except (OSError, ValueError, RuntimeError, sqlite3.Error) as exc:
            raise IndexCorruptError(f"cannot open generation {folder}: {exc}") from exc

    @property
    def name(self) -> str:
        return self.manifest.collection

    @property
    def generation(self) -> int:
        return self.manifest.generation

    def close(self) -> None:
        self.docstore.close()

    def export(self) -> Iterator[tuple[Document, list[StoredChunk], Vectors]]:
        """Every document with its chunks (in ordinal order) and their vectors."""
        ids, matrix = self.dense.live()
        position = {int(row): i for i, row in enumerate(ids)}
        by_document: dict[str, list[StoredChunk]] = {}
        for chunk in self.docstore.chunks_by_row_ids(self.docstore.chunk_row_ids()).values():
            by_document.setdefault(chunk.document_id, []).append(chunk)
        for doc in self.docstore.documents():
            chunks = sorted(by_document.get(doc.id, []), key=lambda c: c.ordinal)
            yield doc, chunks, matrix[[position[c.row_id] for c in chunks]]

    def search(self, request: SearchRequest, vector: Vectors | None) -> list[SearchHit]:
        """Dense and BM25 candidates, fused by rank, filtered before the cut to k,
        with overlapping or near-identical passages kept once."""
        filters, mode = request.filters, request.mode
        allowed = self.docstore.row_ids_matching(filters) if filters else None
        depth = max(request.candidates, 3 * request.k)
        if vector is None and mode != "sparse":
            raise ValueError(f"{mode} search needs a query vector")
        dense = []
        if mode != "sparse" and vector is not None:
            dense = self.dense.search(vector, depth, allowed)
        sparse = self.sparse.search(request.query, depth, allowed) if mode != "dense" else []
        return ranked_hits(
            dense,
            sparse,
            self.docstore.chunks_by_row_ids,
            request.k,
            depth=depth,
            fusion=request.fusion,
            alpha=request.alpha,
            tokens=self._tokens,
        )
