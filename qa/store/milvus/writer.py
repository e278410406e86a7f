"""One change to a Milvus-held collection: applied in place document by document, or,
for a rebuild, into new Milvus collections published whole by swapping the manifest."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.models.protocols import EmbedderInfo, Vectors
from qa.records import Chunk, Document
from qa.store.manifest import Manifest
from qa.store.milvus.docs import MilvusDocs
from qa.store.milvus.filters import any_of, literal
from qa.store.milvus.rows import chunk_row, document_rows, metadata_refusal
from qa.store.milvus.schema import STRONG, dense_index

if TYPE_CHECKING:
    from qa.store.milvus.store import MilvusStore

log = logging.getLogger(__name__)

_FLUSH_CHUNKS = 512


class MilvusWriter:
    def __init__(
        self,
        store: MilvusStore,
        name: str,
        embedder: EmbedderInfo,
        chunker: dict[str, object],
        *,
        fresh: bool = False,
    ) -> None:
        self.store, self.name, self.embedder, self.chunker = store, name, embedder, chunker
        self.client = store.client
        self.live = store.manifest_or_none(name)
        self.fresh = fresh or self.live is None
        self.changed = False
        self._pending: list[tuple[Document, Sequence[Chunk], Vectors]] = []
        self._pending_chunks = 0
        if self.live is not None and not fresh:
            self.live.check_embedder(embedder)
            self.chunks, self.docs = self.live.dense["chunks"], self.live.dense["docs"]
            store.ensure_loaded(self.chunks, self.docs)
            self.next_generation = self.live.generation + 1
        else:
            self.next_generation = (self.live.generation + 1) if self.live else 1
            self.chunks, self.docs = store.physical(name, self.next_generation)
            store.create_physical(self.chunks, self.docs, int(embedder["dimension"]))
        self._created = self.live is None or self.chunks != self.live.dense["chunks"]
        self._view = MilvusDocs(self.client, self.docs, self.chunks)

    def content_hashes(self) -> dict[str, str]:
        self.flush()
        return self._view.content_hashes()

    def stored_documents(self) -> list[Document]:
        """The live collection's documents (a rebuild starts from them)."""
        if self.live is None:
            return []
        live = MilvusDocs(self.client, self.live.dense["docs"], self.live.dense["chunks"])
        return list(live.documents())

    def documents(self) -> Iterator[Document]:
        self.flush()
        return self._view.documents()

    def delete(self, document_id: str) -> bool:
        self.flush()
        expr = f"document_id == {literal(document_id)}"
        present = self.client.query(
            self.docs, filter=expr, output_fields=["key"], limit=1, consistency_level=STRONG
        )
        if not present:
            return False
        self.client.delete(self.chunks, filter=expr)
        self.client.delete(self.docs, filter=expr)
        self.changed = True
        return True

    def refusal(self, doc: Document, chunks: Sequence[Chunk]) -> str | None:
        return metadata_refusal(doc, chunks)

    def put(self, doc: Document, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Insert or replace a document with its chunks and their vectors."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self._pending.append((doc, chunks, np.asarray(vectors, dtype=np.float32)))
        self._pending_chunks += len(chunks)
        self.changed = True
        if self._pending_chunks >= _FLUSH_CHUNKS:
            self.flush()

    def flush(self) -> None:
        """Write the pending documents: new rows first, then their old ones go."""
        if not self._pending:
            return
        pending, self._pending, self._pending_chunks = self._pending, [], 0
        doc_rows: list[dict[str, Any]] = []
        chunk_rows: list[dict[str, Any]] = []
        keep_parts: dict[str, int] = {}
        for doc, chunks, vectors in pending:
            digest = doc.content_hash
            parts = document_rows(doc, digest)
            keep_parts[doc.id] = len(parts)
            doc_rows.extend(parts)
            for chunk, vector in zip(chunks, vectors, strict=True):
                chunk_rows.append(chunk_row(doc, digest, chunk, vector))
        for start in range(0, len(chunk_rows), _FLUSH_CHUNKS):
            self.client.upsert(self.chunks, chunk_rows[start : start + _FLUSH_CHUNKS])
        for start in range(0, len(doc_rows), 64):
            self.client.upsert(self.docs, doc_rows[start : start + 64])
        if not self._created:  # a collection made by this writer has no old rows
            keys = [row["pk"] for row in chunk_rows]
            stale = f"{any_of('document_id', list(keep_parts))} and not ({any_of('pk', keys)})"
            self.client.delete(self.chunks, filter=stale)
            for doc_id, count in keep_parts.items():
                self.client.delete(
                    self.docs, filter=f"document_id == {literal(doc_id)} and part >= {count}"
                )

    def publish(self) -> None:
        self.flush()
        documents, chunks = self._view.counts()
        kind, params = dense_index(self.store.settings)
        manifest = Manifest(
            collection=self.name,
            generation=self.next_generation,
            embedder=self.embedder,
            chunker=self.chunker,
            documents=documents,
            chunks=chunks,
            dense={
                "kind": "milvus",
                "index": kind,
                **{key.lower(): value for key, value in params.items()},
                "chunks": self.chunks,
                "docs": self.docs,
                "vectors": chunks,
            },
        )
        self.store.write_manifest(manifest)
        if self.live is not None and self.live.dense.get("chunks") != self.chunks:
            for old in (self.live.dense.get("chunks"), self.live.dense.get("docs")):
                if old and self.client.has_collection(old):
                    self.client.drop_collection(old)
        log.info(
            "published %s generation %d in Milvus: %d documents, %d chunks",
            self.name,
            self.next_generation,
            documents,
            chunks,
        )

    def abandon(self) -> None:
        """On error: a fresh write's new collections go; an incremental one keeps the
        documents it already wrote (each whole) and publishes their counts."""
        self._pending = []
        if self.live is None or self.chunks != self.live.dense.get("chunks"):
            for physical in (self.chunks, self.docs):
                if self.client.has_collection(physical):
                    self.client.drop_collection(physical)
        elif self.changed:
            try:
                self.publish()
            except Exception:
                log.exception("could not record the partial write to %s", self.name)
