"""`qa index rebuild`: a collection re-chunked and re-embedded from its own stored documents.

An application service beside the runtime and the jobs, not a store operation: it
needs the runtime's embedders and the ingestor, and the store only the seam's writer.
"""

from __future__ import annotations

import time

from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor, IngestReport
from qa.runtime import Runtime


def rebuild(
    runtime: Runtime, name: str, embedder: str | None = None, *, progress: bool = True
) -> IngestReport:
    """A fresh generation from the stored documents, with the current chunker and dense
    index settings. Readers keep the live generation until the swap; writers queue
    behind the rebuild, so no change is lost to it."""
    settings = runtime.settings
    store = runtime.store
    model = runtime.embedder(embedder or store.manifest(name).embedder["name"])
    ingestor = Ingestor(
        store,
        model,
        ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_tokens),
        max_file_bytes=settings.max_file_bytes,
    )
    started = time.perf_counter()
    report = IngestReport(name)
    _, chunker = ingestor.use([])
    with store.writer(name, model.info, chunker.config.as_dict(), fresh=True) as writer:
        documents = writer.stored_documents()
        ingestor.apply(writer, model, chunker, documents, report, progress=progress)
    report.seconds = time.perf_counter() - started
    return report
