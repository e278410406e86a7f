"""One Milvus-held collection opened for searching: dense and BM25 candidates come from
Milvus, filtered there, and are fused here exactly as the FAISS backend fuses its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.models.protocols import Vectors
from qa.records import Document, SearchHit, SearchRequest, StoredChunk
from qa.store.fusion import ranked_hits
from qa.store.manifest import Manifest
from qa.store.milvus.docs import MilvusDocs
from qa.store.milvus.filters import any_of, filter_expression
from qa.store.milvus.rows import lexical_text, stored_chunk
from qa.store.milvus.schema import CHUNK_FIELDS, MAX_TOPK, STRONG

if TYPE_CHECKING:
    from qa.store.milvus.store import MilvusStore


class MilvusReader:
    """One collection as a reader sees it: its manifest when opened, and searches
    answered by Milvus. Holds no data of its own."""

    def __init__(self, store: MilvusStore, manifest: Manifest) -> None:
        self.manifest = manifest
        self._store = store
        self._client = store.client
        self._chunks = manifest.dense["chunks"]
        self._docs = MilvusDocs(self._client, manifest.dense["docs"], self._chunks)
        # Chunk ids hash their content, so a cached token set never goes stale.
        self._tokens: dict[int, set[str]] = {}
        store.ensure_loaded(self._chunks, manifest.dense["docs"])

    @property
    def name(self) -> str:
        return self.manifest.collection

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def docstore(self) -> MilvusDocs:
        return self._docs

    def close(self) -> None:
        pass

    def _dense(self, vector: Vectors, depth: int, expr: str) -> list[dict[str, Any]]:
        ef = max(self._store.settings.hnsw_ef_search, depth)
        result = self._client.search(
            self._chunks,
            data=[np.asarray(vector, dtype=np.float32).reshape(-1).tolist()],
            anns_field="vector",
            limit=depth,
            filter=expr,
            output_fields=CHUNK_FIELDS,
            search_params={"metric_type": "IP", "params": {"ef": ef}},
            consistency_level=STRONG,
        )
        return list(result[0])

    def _sparse(self, query: str, depth: int, expr: str) -> list[dict[str, Any]]:
        text = lexical_text(query)
        if not text:
            return []
        result = self._client.search(
            self._chunks,
            data=[text],
            anns_field="sparse",
            limit=depth,
            filter=expr,
            output_fields=CHUNK_FIELDS,
            search_params={"metric_type": "BM25"},
            consistency_level=STRONG,
        )
        return list(result[0])

    def search(self, request: SearchRequest, vector: Vectors | None) -> list[SearchHit]:
        """Dense and BM25 candidates from Milvus, filtered there, fused here."""
        expr = filter_expression(request.filters)
        mode = request.mode
        depth = min(max(request.candidates, 3 * request.k), MAX_TOPK)
        if vector is None and mode != "sparse":
            raise ValueError(f"{mode} search needs a query vector")
        chunks: dict[int, StoredChunk] = {}
        dense: list[tuple[int, float]] = []
        sparse: list[tuple[int, float]] = []
        if mode != "sparse" and vector is not None and self.manifest.chunks:
            for row in self._dense(vector, depth, expr):
                chunk = stored_chunk(row)
                chunks[chunk.row_id] = chunk
                dense.append((chunk.row_id, float(row["distance"])))
        if mode != "dense" and self.manifest.chunks:
            for row in self._sparse(request.query, depth, expr):
                chunk = stored_chunk(row)
                chunks[chunk.row_id] = chunk
                # Milvus Lite reports BM25 as a negated distance; a server, as the score.
                score = abs(float(row["distance"]))
                if score > 0:
                    sparse.append((chunk.row_id, score))
        return ranked_hits(
            dense,
            sparse,
            lambda _rows: chunks,
            request.k,
            depth=depth,
            fusion=request.fusion,
            alpha=request.alpha,
            tokens=self._tokens,
        )

    def export(self) -> Iterator[tuple[Document, list[StoredChunk], Vectors]]:
        dimension = int(self.manifest.embedder["dimension"])
        for doc in self._docs.documents():
            rows = self._docs.query(
                self._chunks, any_of("document_id", [doc.id]), [*CHUNK_FIELDS, "vector"]
            )
            rows.sort(key=lambda r: int(r["ordinal"]))
            vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32)
            yield doc, [stored_chunk(r) for r in rows], vectors.reshape(len(rows), dimension)
