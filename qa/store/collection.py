"""A collection: generations on disk, published atomically.

Layout of `INDEX_DIR/NAME/`: `CURRENT` names the live generation folder
(`g000042/`: manifest.json, docstore.sqlite, dense.faiss). A writer copies the
live generation into a hidden temp folder, changes it, fsyncs it, renames it
into place and only then swaps `CURRENT` with os.replace. A reader holds a
generation it opened until it asks for a fresher one, so it never sees half of
a change; a crash at any moment leaves the last published generation intact,
and the next writer removes what the crashed one left. Old generations are
renamed out of the way before they are deleted, so a `gNNNNNN` folder is always
whole.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa.errors import CollectionNotFoundError, IndexCorruptError, QAError
from qa.models.packages import sha256_file
from qa.models.protocols import EmbedderInfo, Vectors
from qa.records import (
    Chunk,
    Document,
    SearchHit,
    SearchRequest,
    StoredChunk,
    check_name,
)
from qa.settings import Settings
from qa.store.dense import DENSE_FILE, DensePolicy, FaissIndex
from qa.store.docstore import DocStore
from qa.store.fusion import ranked_hits
from qa.store.manifest import MANIFEST, Manifest
from qa.store.sparse import SparseIndex

log = logging.getLogger(__name__)

DOCSTORE_FILE = "docstore.sqlite"
CURRENT = "CURRENT"
_GENERATION = re.compile(r"^g(\d{6,})$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


class Collection:
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


class CollectionStore:
    """All collections under one index dir.

    Without settings, those of the environment apply (QA_* variables, qa.toml), so
    every process touching the same index dir builds and searches it alike.
    """

    def __init__(self, index_dir: Path, settings: Settings | None = None) -> None:
        self.index_dir = index_dir
        self.settings = settings or Settings(index_dir=index_dir)
        self.policy = DensePolicy.from_settings(self.settings)

    def path(self, name: str) -> Path:
        return self.index_dir / check_name(name)

    def names(self) -> list[str]:
        if not self.index_dir.is_dir():
            return []
        return sorted(p.name for p in self.index_dir.iterdir() if (p / CURRENT).is_file())

    def exists(self, name: str) -> bool:
        return (self.path(name) / CURRENT).is_file()

    def current_folder(self, name: str) -> Path:
        root = self.path(name)
        try:
            generation = (root / CURRENT).read_text().strip()
        except FileNotFoundError:
            raise CollectionNotFoundError(
                f"collection {name!r} does not exist in {self.index_dir}; "
                f"create it with `qa ingest PATH --collection {name}`"
            ) from None
        folder = root / generation
        if not _GENERATION.match(generation) or not (folder / MANIFEST).is_file():
            raise IndexCorruptError(f"{root / CURRENT} names a missing generation {generation!r}")
        return folder

    def open(self, name: str) -> Collection:
        """The live generation. A writer may publish twice and collect the generation
        just read from `CURRENT` before it is opened; then the newer one is opened."""
        folder = self.current_folder(name)
        while True:
            try:
                return Collection(self.path(name), folder, self.policy)
            except IndexCorruptError:
                newer = self.current_folder(name)
                if newer == folder:
                    raise
                folder = newer

    def manifest(self, name: str) -> Manifest:
        return Manifest.read(self.current_folder(name))

    def version(self, name: str) -> object:
        """Changes whenever a writer publishes: the live generation's folder."""
        return self.current_folder(name)

    def writer_active(self, name: str) -> bool:
        """Whether a writer holds the collection's lock now: its `.tmp-` folder is work in
        progress, not debris."""
        lock_path = self.path(name) / ".lock"
        if not lock_path.is_file():
            return False
        with lock_path.open("r") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False

    def stats(self, name: str) -> dict[str, Any]:
        """The live generation's figures, its files' size and what else lies on disk."""
        folder = self.current_folder(name)
        manifest = Manifest.read(folder)
        root = self.path(name)
        active = self.writer_active(name)
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

    def verify(self, name: str) -> list[str]:
        """Everything that disagrees between the manifest, the docstore, the dense and the
        sparse index of the live generation."""
        try:
            folder = self.current_folder(name)
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
            collection = self.open(name)
        except QAError as exc:
            return [exc.detail]
        docstore = collection.docstore
        documents, chunks = docstore.counts()
        if documents != manifest.documents:
            problems.append(
                f"docstore has {documents} documents, manifest says {manifest.documents}"
            )
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

    def remove(self, name: str) -> None:
        """Delete a collection: renamed out of sight under the writer lock (atomic: it
        is listed whole or not at all), then its files are deleted."""
        root = self.path(name)
        if not self.exists(name):
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        with (root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            doomed = Path(tempfile.mkdtemp(prefix=f".removed-{name}-", dir=self.index_dir))
            os.rename(root, doomed / name)
            _fsync_dir(self.index_dir)
        shutil.rmtree(doomed, ignore_errors=True)
        log.info("removed collection %s", name)

    @contextmanager
    def writer(
        self, name: str, embedder: EmbedderInfo, chunker: dict[str, object], *, fresh: bool = False
    ) -> Iterator[CollectionWriter]:
        """Exclusive change to a collection, published on clean exit, discarded on error.

        With fresh=True the new generation starts empty (a rebuild), else from the
        live one. Writers of one collection queue on a file lock.
        """
        root = self.path(name)
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _remove_debris(root)
            live = self.current_folder(name) if self.exists(name) else None
            work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
            try:
                writer = CollectionWriter(
                    name, root, work, live, embedder, chunker, self.policy, fresh=fresh
                )
                yield writer
                if writer.changed or writer.base is None:
                    final = writer.publish()
                    _collect_garbage(root, final, keep=self.settings.keep_generations)
                else:
                    writer.docstore.close()
            finally:
                if work.exists():
                    shutil.rmtree(work, ignore_errors=True)


def _generations(root: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in root.iterdir() if (m := _GENERATION.match(p.name)))


def generation_folders(root: Path) -> list[Path]:
    """Generation folders on disk, oldest first (a crash before the swap can leave one
    newer than the live generation, until the next writer removes it)."""
    return [root / f"g{number:06d}" for number in _generations(root)]


def _remove_debris(root: Path) -> None:
    """Left-overs of a writer that died: temp folders and unpublished generations."""
    for path in root.glob(".tmp-*"):
        log.info("removing debris of an interrupted write: %s", path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    live = (root / CURRENT).read_text().strip() if (root / CURRENT).is_file() else None
    live_number = int(live[1:]) if live and _GENERATION.match(live) else -1
    for number in _generations(root):
        if number > live_number:
            log.info("removing unpublished generation g%06d", number)
            shutil.rmtree(root / f"g{number:06d}", ignore_errors=True)


def _collect_garbage(root: Path, live: Path, keep: int) -> None:
    """Keep the newest `keep` generations. Each older one is first renamed to debris
    (atomic), so a crash mid-delete leaves a `.tmp-` folder, never half a generation."""
    for number in _generations(root)[:-keep]:
        folder = root / f"g{number:06d}"
        if folder == live:
            continue
        doomed = root / f".tmp-gc-{folder.name}"
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


class CollectionWriter:
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
        existing = _generations(root)
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
        """Write, fsync and rename the generation into place, then swap `CURRENT`."""
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
        for f in (*files, MANIFEST):
            _fsync_file(self.work / f)
        _fsync_dir(self.work / "sparse")
        _fsync_dir(self.work)
        final = self.root / f"g{self.generation:06d}"
        os.rename(self.work, final)
        pointer = self.root / f".tmp-{CURRENT}"
        pointer.write_text(final.name + "\n")
        _fsync_file(pointer)
        os.replace(pointer, self.root / CURRENT)
        _fsync_dir(self.root)
        log.info(
            "published %s generation %d: %d documents, %d chunks, %s dense index",
            self.name,
            self.generation,
            documents,
            chunks,
            self.dense.kind,
        )
        return final
