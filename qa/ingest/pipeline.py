"""Ingestion: files -> documents -> chunks -> vectors -> one new generation.

Only documents whose content hash changed are chunked and embedded again, so
re-running on the same paths is cheap and touches nothing when nothing changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from qa.catalogue.page_images import PageImages
from qa.errors import InvalidInputError, LoaderError
from qa.ingest import loaders
from qa.ingest.chunking import Chunker, ChunkerConfig
from qa.models.protocols import Embedder
from qa.records import Chunk, Document
from qa.store.backend import Guard, Store, Writer

log = logging.getLogger(__name__)

# Room in the embedder's window for the title and section line put before each chunk.
_PREFIX_TOKENS = 48


@dataclass
class IngestReport:
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Files that could not be read this time; --sync keeps their last good version."""
    not_read: list[str] = field(default_factory=list)
    """Every file passed over, as "file: reason": an unsupported type or a loader's error."""
    chunks: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def discover(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """(file, document id) pairs; the id is the path relative to the folder given."""
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(path)
                if file.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield file, rel.as_posix()
        elif path.exists():
            yield path, path.name
        else:
            raise InvalidInputError(f"{path}: no such file or folder")


def embedding_text(doc: Document, chunk: Chunk) -> str:
    """What the embedder sees: the chunk with its title and section, for context."""
    header = " > ".join(part for part in (doc.title, chunk.section) if part)
    return f"{header}\n{chunk.text}" if header else chunk.text


def chunker_for(embedder: Embedder, config: ChunkerConfig) -> Chunker:
    budget = min(config.max_tokens, max(32, embedder.max_tokens - _PREFIX_TOKENS))
    overlap = min(config.overlap_tokens, budget // 2)
    return Chunker(ChunkerConfig(budget, overlap), embedder.count_tokens)


class FileReader(Protocol):
    """The documents in one file, as `qa.ingest.loaders.load` reads them: a LoaderError
    naming the file on any problem. Jobs read uploads in a child process instead
    (qa.ingest.sandbox)."""

    def __call__(self, path: Path, document_id: str, *, max_bytes: int) -> Iterable[Document]: ...


EmbedderChoice = Callable[[Sequence[Document]], Embedder]
Progress = Callable[[int, int], None]
"""Called with (chunks embedded, chunks to embed) as an ingestion goes."""


class Ingestor:
    """Files into a collection. The embedder may be chosen once the documents are
    loaded (a new collection with CJK text gets the multilingual one); a chosen one
    is loaded only when a document needs embedding, since loading it takes longer
    than re-reading and hashing a thousand unchanged files."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder | EmbedderChoice,
        chunker: ChunkerConfig,
        *,
        max_file_bytes: int,
        batch_size: int = 256,
        on_progress: Progress | None = None,
        guard: Guard | None = None,
        read_file: FileReader = loaders.load,
        pictures: PageImages | None = None,
    ) -> None:
        self.store = store
        self.pictures = pictures
        self.guard = guard
        self.read_file = read_file
        self._given = None if callable(embedder) else embedder
        self._choice = embedder if callable(embedder) else (lambda _docs: embedder)
        self._chunker_config = chunker
        self.max_file_bytes = max_file_bytes
        self.batch_size = batch_size
        self.on_progress = on_progress

    def use(self, documents: Sequence[Document]) -> tuple[Embedder, Chunker]:
        embedder = self._choice(documents)
        return embedder, chunker_for(embedder, self._chunker_config)

    def load(self, paths: Sequence[Path], report: IngestReport) -> list[Document]:
        documents: dict[str, Document] = {}
        for file, document_id in discover(paths):
            if not loaders.supported(file):
                report.skipped.append(document_id)
                kind = f"file type {file.suffix!r}" if file.suffix else "file without a suffix"
                report.not_read.append(f"{document_id}: unsupported {kind}")
                log.info("not read %s: unsupported file type", document_id)
                continue
            try:
                for doc in self.read_file(file, document_id, max_bytes=self.max_file_bytes):
                    if doc.id in documents:
                        report.errors.append(f"{doc.id}: duplicate document id, kept the first")
                        continue
                    documents[doc.id] = doc
            except LoaderError as exc:
                report.errors.append(exc.detail)
                report.failed.append(document_id)
                report.not_read.append(exc.detail)
                log.warning("skipped %s", exc.detail)
        return list(documents.values())

    def run(
        self,
        paths: Sequence[Path],
        collection: str,
        *,
        sync: bool = False,
        progress: bool = True,
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(collection)
        documents = self.load(paths, report)
        self.run_documents(documents, collection, report, sync=sync, progress=progress)
        report.seconds = time.perf_counter() - started
        return report

    def run_documents(
        self,
        documents: Sequence[Document],
        collection: str,
        report: IngestReport,
        *,
        sync: bool = False,
        progress: bool = True,
    ) -> None:
        """Documents already in memory (evaluation sets, API records) into a collection.

        An existing collection's writer is opened with the embedder and chunker its
        manifest records, so the embedder is chosen and loaded only if some document
        changed; it must then match the recorded one, as the writer would require."""
        models = None
        recorded = self.store.manifest(collection) if self.store.exists(collection) else None
        if self._given is not None or recorded is None:
            models = self.use(documents)
            info, chunker_config = models[0].info, models[1].config.as_dict()
        else:
            info, chunker_config = recorded.embedder, recorded.chunker
        with self.store.writer(collection, info, chunker_config, guard=self.guard) as writer:
            live = writer.content_hashes()
            changed = self.changes(writer, documents, report, live)
            if changed:
                if models is None:
                    models = self.use(documents)
                    if recorded is not None:
                        recorded.check_embedder(models[0].info)
                    writer.chunker = models[1].config.as_dict()
                self.embed(writer, *models, changed, report, progress=progress)
            if sync:
                present = {d.id for d in documents} | set(report.failed)
                for document_id in sorted(set(writer.content_hashes()) - present):
                    writer.delete(document_id)
                    report.removed.append(document_id)
            if self.pictures is not None:
                put = set(report.added) | set(report.updated)
                new = {(d.id, d.content_hash) for d, _ in changed if d.page_images and d.id in put}
                self.pictures.prune(collection, {*live.items(), *new})

    def apply(
        self,
        writer: Writer,
        embedder: Embedder,
        chunker: Chunker,
        documents: Iterable[Document],
        report: IngestReport,
        *,
        progress: bool,
    ) -> None:
        """Chunk and embed what changed, and put it into the writer's generation."""
        changed = self.changes(writer, documents, report)
        self.embed(writer, embedder, chunker, changed, report, progress=progress)

    def changes(
        self,
        writer: Writer,
        documents: Iterable[Document],
        report: IngestReport,
        known: dict[str, str] | None = None,
    ) -> list[tuple[Document, bool]]:
        """New or changed documents, each with whether it replaces a stored version;
        the unchanged ones go into the report. `known`: the writer's hashes, if read."""
        known = writer.content_hashes() if known is None else known
        changed: list[tuple[Document, bool]] = []
        for doc in documents:
            previous = known.get(doc.id)
            if previous == doc.content_hash:
                report.unchanged.append(doc.id)
            else:
                changed.append((doc, previous is not None))
        return changed

    def embed(
        self,
        writer: Writer,
        embedder: Embedder,
        chunker: Chunker,
        changed: Iterable[tuple[Document, bool]],
        report: IngestReport,
        *,
        progress: bool,
    ) -> None:
        pending: list[tuple[Document, list[Chunk]]] = []
        for doc, replaces in changed:
            chunks = chunker.run(doc)
            if not chunks:
                report.errors.append(f"{doc.id}: no text to index")
                continue
            if (refused := writer.refusal(doc, chunks)) is not None:
                report.errors.append(refused)
                continue
            (report.updated if replaces else report.added).append(doc.id)
            pending.append((doc, chunks))
        total = sum(len(chunks) for _, chunks in pending)
        report.chunks = total
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            bar.update(count)
            if self.on_progress is not None:
                self.on_progress(done, total)

        with tqdm(
            total=total, unit="chunk", desc=f"embedding {writer.name}", disable=not progress
        ) as bar:
            batch: list[tuple[Document, list[Chunk]]] = []
            size = 0
            for doc, chunks in pending:
                batch.append((doc, chunks))
                size += len(chunks)
                if size >= self.batch_size:
                    advance(_embed_batch(writer, embedder, batch, self.pictures))
                    batch, size = [], 0
            advance(_embed_batch(writer, embedder, batch, self.pictures))


def _embed_batch(
    writer: Writer,
    embedder: Embedder,
    batch: list[tuple[Document, list[Chunk]]],
    pictures: PageImages | None,
) -> int:
    if not batch:
        return 0
    texts = [embedding_text(doc, c) for doc, chunks in batch for c in chunks]
    vectors = embedder.embed_passages(texts)
    offset = 0
    for doc, chunks in batch:
        writer.put(doc, chunks, vectors[offset : offset + len(chunks)])
        if pictures is not None and doc.page_images:
            pictures.put(writer.name, doc)
        offset += len(chunks)
    return len(texts)
