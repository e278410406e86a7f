"""Ingestion: files -> documents -> chunks -> vectors -> one new generation.

Only documents whose content hash changed are chunked and embedded again, so
re-running on the same paths is cheap and touches nothing when nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path

from qa.catalogue.page_images import PageImages
from qa.ingest import loaders
from qa.ingest.chunking import Chunker, ChunkerConfig
from qa.ingest.embedding import EmbeddingBatches, Progress
from qa.ingest.read_ahead import ReadAhead
from qa.ingest.reading import FileRead, FileReader, accept, discover, read
from qa.ingest.report import IngestReport
from qa.models.protocols import Embedder, EmbedderInfo
from qa.records import Document
from qa.store.backend import Guard, Store, Writer
from qa.store.manifest import Manifest

__all__ = ["EmbedderChoice", "FileReader", "IngestReport", "Ingestor", "Progress", "chunker_for"]

# Room in the embedder's window for the title and section line put before each chunk.
_PREFIX_TOKENS = 48


def chunker_for(embedder: Embedder, config: ChunkerConfig) -> Chunker:
    budget = min(config.max_tokens, max(32, embedder.max_tokens - _PREFIX_TOKENS))
    overlap = min(config.overlap_tokens, budget // 2)
    return Chunker(ChunkerConfig(budget, overlap), embedder.count_tokens)


EmbedderChoice = Callable[[Sequence[Document]], Embedder]


class Ingestor:
    """Files into a collection. The embedder may be chosen once the documents are
    loaded (a new collection with CJK text gets the multilingual one); a chosen one
    is loaded only when a document needs embedding, since loading it takes longer
    than re-reading and hashing a thousand unchanged files.

    With `read_ahead` (files), the next files are read on a thread of their own while a
    batch embeds (qa.ingest.read_ahead). Only for an embedder that does not depend on
    the documents: one given, the collection's recorded one, or a choice that ignores
    what it is shown (it is shown none)."""

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
        read_ahead: int = 0,
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
        self.read_ahead = read_ahead

    def use(self, documents: Sequence[Document]) -> tuple[Embedder, Chunker]:
        embedder = self._choice(documents)
        return embedder, chunker_for(embedder, self._chunker_config)

    def load(self, paths: Sequence[Path], report: IngestReport) -> list[Document]:
        documents: dict[str, Document] = {}
        for file, document_id in discover(paths):
            for doc in accept(self._read(file, document_id), report, documents):
                documents[doc.id] = doc
        return list(documents.values())

    def _read(self, file: Path, document_id: str) -> FileRead:
        return read(self.read_file, file, document_id, max_bytes=self.max_file_bytes)

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
        if self.read_ahead > 0:
            # Listed before anything is written: a path that does not exist fails here.
            files = list(discover(paths))
            self._run_reading_ahead(files, collection, report, sync=sync, progress=progress)
        else:
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
        models, recorded = self._opening(collection, documents)
        info, chunker_config = self._recorded(models, recorded)
        with self.store.writer(collection, info, chunker_config, guard=self.guard) as writer:
            live = writer.content_hashes()
            changed = self.changes(writer, documents, report, live)
            if changed:
                models = models or self._models(writer, recorded, documents)
                with self._batches(writer, models, report, progress) as batches:
                    for doc, replaces in changed:
                        batches.add(doc, replaces)
                    batches.embed(final=True)
            self._finish(writer, report, {d.id for d in documents}, live, changed, sync=sync)

    def _run_reading_ahead(
        self,
        files: Sequence[tuple[Path, str]],
        collection: str,
        report: IngestReport,
        *,
        sync: bool,
        progress: bool,
    ) -> None:
        """`run`, with each batch embedded as soon as the files read so far fill it."""
        models, recorded = self._opening(collection, ())
        info, chunker_config = self._recorded(models, recorded)
        with (
            self.store.writer(collection, info, chunker_config, guard=self.guard) as writer,
            ExitStack() as stack,
        ):
            live = writer.content_hashes()
            present: set[str] = set()
            changed: list[tuple[Document, bool]] = []
            batches: EmbeddingBatches | None = None
            reads = stack.enter_context(ReadAhead(files, self._read, depth=self.read_ahead))
            for outcome in reads:
                documents = accept(outcome, report, present)
                present.update(d.id for d in documents)
                for doc, replaces in self.changes(writer, documents, report, live):
                    if batches is None:
                        models = models or self._models(writer, recorded, ())
                        batches = stack.enter_context(
                            self._batches(writer, models, report, progress)
                        )
                    batches.add(doc, replaces)
                    changed.append((doc, replaces))
                if batches is not None:
                    batches.embed()
            if batches is not None:
                batches.embed(final=True)
            self._finish(writer, report, present, live, changed, sync=sync)

    def _opening(
        self, collection: str, documents: Sequence[Document]
    ) -> tuple[tuple[Embedder, Chunker] | None, Manifest | None]:
        """The models now if a new collection's writer needs their record, and the
        existing collection's manifest."""
        recorded = self.store.manifest(collection) if self.store.exists(collection) else None
        if self._given is not None or recorded is None:
            return self.use(documents), recorded
        return None, recorded

    @staticmethod
    def _recorded(
        models: tuple[Embedder, Chunker] | None, recorded: Manifest | None
    ) -> tuple[EmbedderInfo, dict[str, object]]:
        if models is not None:
            return models[0].info, models[1].config.as_dict()
        assert recorded is not None
        return recorded.embedder, recorded.chunker

    def _models(
        self, writer: Writer, recorded: Manifest | None, documents: Sequence[Document]
    ) -> tuple[Embedder, Chunker]:
        """Loaded once a document needs embedding: the collection's own embedder."""
        models = self.use(documents)
        if recorded is not None:
            recorded.check_embedder(models[0].info)
        writer.chunker = models[1].config.as_dict()
        return models

    def _batches(
        self, writer: Writer, models: tuple[Embedder, Chunker], report: IngestReport, progress: bool
    ) -> EmbeddingBatches:
        return EmbeddingBatches(
            writer,
            *models,
            report,
            batch_size=self.batch_size,
            pictures=self.pictures,
            on_progress=self.on_progress,
            progress=progress,
        )

    def _finish(
        self,
        writer: Writer,
        report: IngestReport,
        present: set[str],
        live: dict[str, str],
        changed: Sequence[tuple[Document, bool]],
        *,
        sync: bool,
    ) -> None:
        """--sync's deletions, and page images kept only for the documents' live versions."""
        if sync:
            present = present | set(report.failed)
            for document_id in sorted(set(writer.content_hashes()) - present):
                writer.delete(document_id)
                report.removed.append(document_id)
        if self.pictures is not None:
            put = set(report.added) | set(report.updated)
            new = {(d.id, d.content_hash) for d, _ in changed if d.page_images and d.id in put}
            self.pictures.prune(writer.name, {*live.items(), *new})

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
        with self._batches(writer, (embedder, chunker), report, progress) as batches:
            for doc, replaces in self.changes(writer, documents, report):
                batches.add(doc, replaces)
            batches.embed(final=True)

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
