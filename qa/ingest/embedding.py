"""Chunks embedded and put into a writer's generation a batch at a time.

A batch spans documents (`batch_size` chunks or more, whole documents), so that many
short files still make full batches for the embedder, whose own calls sort by length.
Documents can arrive all at once or one at a time as files are read ahead
(qa.ingest.read_ahead): the batches are the same either way, and the progress total
is the chunks known so far.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from tqdm import tqdm

from qa.catalogue.page_images import PageImages
from qa.ingest.chunking import Chunker
from qa.ingest.report import IngestReport
from qa.models.protocols import Embedder
from qa.records import Chunk, Document
from qa.store.backend import Writer

Progress = Callable[[int, int], None]
"""Called with (chunks embedded, chunks to embed) as an ingestion goes."""


def embedding_text(doc: Document, chunk: Chunk) -> str:
    """What the embedder sees: the chunk with its title and section, for context."""
    header = " > ".join(part for part in (doc.title, chunk.section) if part)
    return f"{header}\n{chunk.text}" if header else chunk.text


class EmbeddingBatches:
    """`add` chunks a changed document and queues it; `embed` embeds the full batches
    queued (every one with `final`). A document without text, or one the writer
    refuses, is an error in the report; the others are added or updated there, and
    the report's chunks are those queued."""

    def __init__(
        self,
        writer: Writer,
        embedder: Embedder,
        chunker: Chunker,
        report: IngestReport,
        *,
        batch_size: int,
        pictures: PageImages | None = None,
        on_progress: Progress | None = None,
        progress: bool = True,
    ) -> None:
        self.writer, self.embedder, self.chunker = writer, embedder, chunker
        self.report = report
        self.batch_size = batch_size
        self.pictures = pictures
        self.on_progress = on_progress
        self.total = 0
        self.done = 0
        self._pending: list[tuple[Document, list[Chunk]]] = []
        self._bar = tqdm(
            total=0, unit="chunk", desc=f"embedding {writer.name}", disable=not progress
        )

    def __enter__(self) -> EmbeddingBatches:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._bar.close()

    def add(self, doc: Document, replaces: bool) -> None:
        chunks = self.chunker.run(doc)
        if not chunks:
            self.report.errors.append(f"{doc.id}: no text to index")
            return
        if (refused := self.writer.refusal(doc, chunks)) is not None:
            self.report.errors.append(refused)
            return
        (self.report.updated if replaces else self.report.added).append(doc.id)
        self._pending.append((doc, chunks))
        self.total += len(chunks)
        self.report.chunks = self.total
        self._bar.total = self.total
        self._bar.refresh()

    def embed(self, *, final: bool = False) -> None:
        batch: list[tuple[Document, list[Chunk]]] = []
        size = 0
        for doc, chunks in self._pending:
            batch.append((doc, chunks))
            size += len(chunks)
            if size >= self.batch_size:
                self._embed(batch)
                batch, size = [], 0
        if final:
            self._embed(batch)
            batch = []
        self._pending = batch

    def _embed(self, batch: list[tuple[Document, list[Chunk]]]) -> None:
        if not batch:
            return
        texts = [embedding_text(doc, c) for doc, chunks in batch for c in chunks]
        vectors = self.embedder.embed_passages(texts)
        offset = 0
        for doc, chunks in batch:
            self.writer.put(doc, chunks, vectors[offset : offset + len(chunks)])
            if self.pictures is not None and doc.page_images:
                self.pictures.put(self.writer.name, doc)
            offset += len(chunks)
        self.done += len(texts)
        self._bar.update(len(texts))
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)
