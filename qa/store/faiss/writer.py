"""One change to a FAISS-backed collection: a new generation built in a temp folder."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from qa.errors import IndexCorruptError
from qa.models.packages import sha256_file
from qa.models.protocols import EmbedderInfo, Vectors
from qa.records import Chunk, Document
from qa.store.faiss.dense import DENSE_FILE, DensePolicy, FaissIndex
from qa.store.faiss.docstore import DOCSTORE_FILE, DocStore
from qa.store.faiss.generations import generation_numbers, install
from qa.store.faiss.sparse import SparseIndex
from qa.store.manifest import MANIFEST, Manifest

log = logging.getLogger(__name__)


class FaissWriter:
    def __init__(
        self,
        name: str,
        root: Path,
        work: Path,
        live: Path | None,
        embedder: EmbedderInfo,
        chunker: dict[str, object],
        policy: DensePolicy,
        *,
        fresh: bool = False,
    ) -> None:
        """Starts from a copy of the live generation, or empty when fresh (a rebuild,
        which reads the live generation's documents through `stored_documents`)."""
        self.name, self.root, self.work = name, root, work
        self.live = live
        self.base = None if fresh else live
        existing = generation_numbers(root)
        self.generation = (existing[-1] if existing else 0) + 1
        if self.base is not None:
            previous = Manifest.read(self.base)
            previous.check_embedder(embedder)
            shutil.copy2(self.base / DOCSTORE_FILE, work / DOCSTORE_FILE)
            self.dense = FaissIndex.load(self.base, policy)
        else:
            self.dense = FaissIndex.empty(embedder["dimension"], policy)
        self.docstore = DocStore(work / DOCSTORE_FILE)
        self.embedder = embedder
        self.chunker = chunker
        self._next_row = self.docstore.next_row_id()
        self.changed = False

    def content_hashes(self) -> dict[str, str]:
        return self.docstore.content_hashes()

    def stored_documents(self) -> list[Document]:
        """The live generation's documents, read under the writer's lock, so that a
        rebuild cannot drop a change published while it was starting."""
        if self.live is None:
            return []
        source = DocStore(self.live / DOCSTORE_FILE, readonly=True)
        try:
            return list(source.documents())
        finally:
            source.close()

    def documents(self) -> Iterator[Document]:
        return self.docstore.documents()

    def delete(self, document_id: str) -> bool:
        rows = self.docstore.delete_document(document_id)
        self.dense.remove(rows)
        self.changed = self.changed or bool(rows)
        return bool(rows)

    def refusal(self, doc: Document, chunks: Sequence[Chunk]) -> str | None:
        return None

    def put(self, doc: Document, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Insert or replace a document with its chunks and their vectors."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self.delete(doc.id)
        rows = self.docstore.add_document(doc, chunks, self._next_row)
        self._next_row += len(rows)
        self.dense.add(rows, vectors)
        self.changed = True

    def docstore_rows(self) -> Iterator[tuple[int, str]]:
        """What BM25 indexes per chunk: its title and section, then its text."""
        return self.docstore.lexical_rows()

    def publish(self) -> Path:
        """Write and checksum the generation's files, then install it as the live one."""
        self.docstore.commit()
        documents, chunks = self.docstore.counts()
        self.dense = self.dense.fitted()
        if chunks != self.dense.size:
            raise IndexCorruptError(
                f"refusing to publish: {chunks} chunks in the docstore, {self.dense.size} vectors"
            )
        self.dense.save(self.work)
        sparse = SparseIndex.build(self.docstore_rows())
        sparse_files = [p.relative_to(self.work).as_posix() for p in sparse.save(self.work)]
        files = {f: sha256_file(self.work / f) for f in (DOCSTORE_FILE, DENSE_FILE, *sparse_files)}
        self.docstore.close()
        Manifest(
            collection=self.name,
            generation=self.generation,
            embedder=self.embedder,
            chunker=self.chunker,
            documents=documents,
            chunks=chunks,
            files=files,
            dense=self.dense.describe(),
        ).write(self.work)
        final = install(self.root, self.work, self.generation, [*files, MANIFEST])
        log.info(
            "published %s generation %d: %d documents, %d chunks, %s dense index",
            self.name,
            self.generation,
            documents,
            chunks,
            self.dense.kind,
        )
        return final
