"""What the retriever, the ingest pipeline and the API need of a collection store, and
the factory that picks the backend from settings.

Two backends sit behind these Protocols: `faiss` (qa.store.faiss: generations of
files under the index dir, one machine, the embedded default) and `milvus`
(qa.store.milvus: one Milvus shared by any number of stateless replicas). Nothing
but `vector_backend` and `milvus_uri` chooses between them, and the factory imports
only the chosen one (FAISS users never import pymilvus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from qa.models.protocols import EmbedderInfo, Vectors
from qa.records import Chunk, Document, SearchHit, SearchRequest, StoredChunk
from qa.settings import Settings
from qa.store.manifest import Manifest


class DocumentView(Protocol):
    """The documents of an opened collection, as listed over HTTP."""

    def document_summaries(
        self, offset: int = 0, limit: int | None = None, document_id: str | None = None
    ) -> list[dict[str, Any]]: ...

    def document_text(self, document_id: str) -> str | None: ...

    def documents(self) -> Iterator[Document]: ...


class CollectionReader(Protocol):
    """One opened collection: read-only, safe to share between threads."""

    manifest: Manifest

    @property
    def name(self) -> str: ...

    @property
    def generation(self) -> int: ...

    @property
    def docstore(self) -> DocumentView: ...

    def search(self, request: SearchRequest, vector: Vectors | None) -> list[SearchHit]: ...

    def export(self) -> Iterator[tuple[Document, list[StoredChunk], Vectors]]:
        """Every document with its chunks (in ordinal order) and their vectors."""
        ...

    def close(self) -> None: ...


class Writer(Protocol):
    """One change to one collection, as a whole or not at all.

    Held by `Store.writer` as a context manager: writers of a collection queue behind
    each other, and leaving the block without an error publishes one new generation
    that readers switch to; an error (or a crash) leaves the last good one live.
    """

    name: str
    chunker: dict[str, object]
    changed: bool

    def content_hashes(self) -> dict[str, str]: ...

    def stored_documents(self) -> list[Document]: ...

    def delete(self, document_id: str) -> bool: ...

    def put(self, doc: Document, chunks: Sequence[Chunk], vectors: Vectors) -> None: ...

    def refusal(self, doc: Document, chunks: Sequence[Chunk]) -> str | None:
        """Why this backend cannot hold the document, said before it is embedded (the
        ingestion reports it and goes on with the others); None when it can."""
        ...


Guard = Callable[[], None]
"""Called under a writer's lock when the writer opens and again right before it
publishes; raising abandons the change. An ingestion job passes one that checks its
collection was not deleted meanwhile: the deletion takes the same lock, so either the
job sees it or it removes what the job published."""


class Store(Protocol):
    """Every collection of one backend: which exist, their manifests, a reader of the
    live generation, and a writer that publishes the next one.

    Collection names are checked (`check_name`) before they reach a path or a query.
    """

    settings: Settings

    def names(self) -> list[str]: ...

    def exists(self, name: str) -> bool: ...

    def manifest(self, name: str) -> Manifest: ...

    def version(self, name: str) -> object:
        """A token that changes whenever a writer publishes: readers reopen on change."""
        ...

    def open(self, name: str) -> CollectionReader: ...

    def writer(
        self,
        name: str,
        embedder: EmbedderInfo,
        chunker: dict[str, object],
        *,
        fresh: bool = False,
        guard: Guard | None = None,
        wait_s: float | None = None,
    ) -> AbstractContextManager[Writer]:
        """Writers of a collection queue on its lock; after `wait_s` seconds (None: no
        limit) a writer gives up with CollectionBusyError."""
        ...

    def stats(self, name: str) -> dict[str, Any]:
        """What `qa index stats` shows: the manifest's figures and where the data lives."""
        ...

    def verify(self, name: str) -> list[str]:
        """What disagrees between the manifest and the stored data; empty when all agree."""
        ...

    def remove(self, name: str, *, wait_s: float | None = None) -> None:
        """Delete a collection under its writer lock, so a writer publishing now finishes
        first and is removed with it. CollectionNotFoundError if there was none,
        CollectionBusyError if the lock stayed held for `wait_s`."""
        ...


def open_store(settings: Settings) -> Store:
    """The collection store the settings name: FAISS files under `index_dir`, or Milvus."""
    if settings.vector_backend == "milvus":
        from qa.store.milvus.store import MilvusStore

        return MilvusStore(settings)
    from qa.store.faiss.store import FaissStore

    return FaissStore(settings.index_dir, settings)
