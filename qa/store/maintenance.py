"""`qa index stats|verify|rebuild`: look at, check and remake a collection."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from qa.errors import QAError
from qa.models.packages import sha256_file
from qa.settings import Settings
from qa.store.collection import CURRENT, CollectionStore, generation_folders
from qa.store.docstore import DocStore
from qa.store.manifest import Manifest

if TYPE_CHECKING:
    from qa.ingest.pipeline import IngestReport
    from qa.runtime import Runtime


def stats(settings: Settings, name: str) -> dict[str, Any]:
    if settings.vector_backend == "milvus":
        return _milvus_stats(settings, name)
    store = CollectionStore(settings.index_dir, settings)
    folder = store.current_folder(name)
    manifest = Manifest.read(folder)
    root = store.path(name)
    active = store.writer_active(name)
    return {
        "collection": name,
        "generation": manifest.generation,
        "documents": manifest.documents,
        "chunks": manifest.chunks,
        "bytes": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()),
        "dense": manifest.dense,
        "embedder": manifest.embedder,
        "chunker": manifest.chunker,
        "built_at": manifest.built_at,
        "path": str(folder),
        "generations": [p.name for p in generation_folders(root)],
        "writer_active": active,
        "debris": [] if active else sorted(p.name for p in root.glob(".tmp-*")),
    }


def _milvus_stats(settings: Settings, name: str) -> dict[str, Any]:
    from qa.store.milvus import MilvusStore

    manifest = MilvusStore(settings).manifest(name)
    return {
        "collection": name,
        "generation": manifest.generation,
        "documents": manifest.documents,
        "chunks": manifest.chunks,
        "dense": manifest.dense,
        "embedder": manifest.embedder,
        "chunker": manifest.chunker,
        "built_at": manifest.built_at,
        "milvus_uri": settings.milvus_uri,
    }


def _milvus_verify(settings: Settings, name: str) -> list[str]:
    from qa.store.milvus import MilvusStore

    try:
        collection = MilvusStore(settings).open(name)
    except QAError as exc:
        return [exc.detail]
    manifest = collection.manifest
    documents, chunks = collection.docstore.counts()
    problems = []
    if (documents, chunks) != (manifest.documents, manifest.chunks):
        problems.append(
            f"Milvus holds {documents} documents and {chunks} chunks, the manifest says "
            f"{manifest.documents} and {manifest.chunks}"
        )
    return problems


def verify(settings: Settings, name: str) -> list[str]:
    """Everything that disagrees between the manifest, the docstore, the dense and the
    sparse index of the live generation."""
    if settings.vector_backend == "milvus":
        return _milvus_verify(settings, name)
    store = CollectionStore(settings.index_dir, settings)
    try:
        folder = store.current_folder(name)
        manifest = Manifest.read(folder)
    except QAError as exc:
        return [exc.detail]
    problems: list[str] = []
    if manifest.generation != int(folder.name[1:]) or manifest.collection != name:
        problems.append(
            f"{CURRENT} names {folder.name} but its manifest is generation "
            f"{manifest.generation} of {manifest.collection!r}"
        )
    for file, expected in manifest.files.items():
        path = folder / file
        if not path.is_file():
            problems.append(f"{file} is missing")
        elif sha256_file(path) != expected:
            problems.append(f"{file} does not match its checksum in the manifest")
    if problems:
        return problems
    try:
        collection = store.open(name)
    except QAError as exc:
        return [exc.detail]
    docstore: DocStore = collection.docstore
    documents, chunks = docstore.counts()
    if documents != manifest.documents:
        problems.append(f"docstore has {documents} documents, manifest says {manifest.documents}")
    if chunks != manifest.chunks:
        problems.append(f"docstore has {chunks} chunks, manifest says {manifest.chunks}")
    if collection.dense.size != chunks:
        problems.append(f"dense index has {collection.dense.size} vectors for {chunks} chunks")
    described = collection.dense.describe()
    if {key: described.get(key) for key in manifest.dense} != manifest.dense:
        problems.append(f"dense index is {described}, manifest says {manifest.dense}")
    if collection.dense.dimension != manifest.embedder["dimension"]:
        problems.append(
            f"dense index is {collection.dense.dimension}-d, embedder is "
            f"{manifest.embedder['dimension']}-d"
        )
    row_ids = docstore.chunk_row_ids()
    if collection.dense.ids().tolist() != row_ids:
        problems.append("dense index ids differ from the docstore's chunk ids")
    if collection.sparse.ids().tolist() != row_ids:
        problems.append("sparse index ids differ from the docstore's chunk ids")
    collection.close()
    return problems


def rebuild(
    runtime: Runtime, name: str, embedder: str | None = None, *, progress: bool = True
) -> IngestReport:
    """A fresh generation from the stored documents, with the current chunker and dense
    index settings. Readers keep the live generation until the swap; writers queue
    behind the rebuild, so no change is lost to it."""
    from qa.ingest.chunking import ChunkerConfig
    from qa.ingest.pipeline import Ingestor, IngestReport

    settings = runtime.settings
    store = runtime.store  # FAISS or Milvus, as the settings say
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
