"""All FAISS-backed collections under one index dir: the embedded, one-machine backend.

Each collection is a folder of generations (see `generations`); this is the store the
rest of qa reaches through `qa.store.backend.Store` when `vector_backend` is `faiss`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa.errors import (
    CollectionBusyError,
    CollectionNotFoundError,
    IndexCorruptError,
    QAError,
)
from qa.models.packages import sha256_file
from qa.models.protocols import EmbedderInfo
from qa.records import check_name
from qa.settings import Settings
from qa.store.backend import Guard
from qa.store.faiss.dense import DensePolicy
from qa.store.faiss.generations import (
    CURRENT,
    GENERATION,
    collect_garbage,
    fsync_dir,
    generation_folders,
    remove_debris,
)
from qa.store.faiss.reader import FaissReader
from qa.store.faiss.writer import FaissWriter
from qa.store.locks import flock_within
from qa.store.manifest import MANIFEST, Manifest

log = logging.getLogger(__name__)


class FaissStore:
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
        if not GENERATION.match(generation) or not (folder / MANIFEST).is_file():
            raise IndexCorruptError(f"{root / CURRENT} names a missing generation {generation!r}")
        return folder

    def open(self, name: str) -> FaissReader:
        """The live generation. A writer may publish twice and collect the generation
        just read from `CURRENT` before it is opened; then the newer one is opened."""
        folder = self.current_folder(name)
        while True:
            try:
                return FaissReader(self.path(name), folder, self.policy)
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

    def remove(self, name: str, *, wait_s: float | None = None) -> None:
        """Delete a collection: renamed out of sight under the writer lock (atomic: it
        is listed whole or not at all), then its files are deleted. A folder that a
        writer left without publishing goes too, though it was no collection."""
        root = self.path(name)
        if not root.is_dir():
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        with self._locked(name, wait_s):
            existed = self.exists(name)
            doomed = Path(tempfile.mkdtemp(prefix=f".removed-{name}-", dir=self.index_dir))
            os.rename(root, doomed / name)
            fsync_dir(self.index_dir)
        shutil.rmtree(doomed, ignore_errors=True)
        if not existed:
            raise CollectionNotFoundError(f"collection {name!r} does not exist")
        log.info("removed collection %s", name)

    @contextmanager
    def _locked(self, name: str, wait_s: float | None = None) -> Iterator[None]:
        """The collection's writer lock; CollectionBusyError if it stays held for
        `wait_s`. A removal renames the folder, lock file and all: whoever waited on
        that lock file then holds a lock on nothing, and locks the folder now at the
        collection's path instead."""
        root = self.path(name)
        deadline = None if wait_s is None else time.monotonic() + wait_s
        while True:
            root.mkdir(parents=True, exist_ok=True)
            try:
                lock = (root / ".lock").open("a")
            except FileNotFoundError:
                continue
            with lock:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not flock_within(lock, left):
                    raise CollectionBusyError(
                        f"collection {name!r} is being written (an ingestion holds it until "
                        f"it publishes); gave up after {wait_s:g} s: retry later"
                    )
                try:
                    current = (root / ".lock").stat().st_ino == os.fstat(lock.fileno()).st_ino
                except FileNotFoundError:
                    current = False
                if current:
                    yield
                    return

    @contextmanager
    def writer(
        self,
        name: str,
        embedder: EmbedderInfo,
        chunker: dict[str, object],
        *,
        fresh: bool = False,
        guard: Guard | None = None,
        wait_s: float | None = None,
    ) -> Iterator[FaissWriter]:
        """Exclusive change to a collection, published on clean exit, discarded on error.

        With fresh=True the new generation starts empty (a rebuild), else from the
        live one. Writers of one collection queue on a file lock, for at most `wait_s`.
        """
        root = self.path(name)
        with self._locked(name, wait_s):
            if guard is not None:
                guard()
            remove_debris(root)
            live = self.current_folder(name) if self.exists(name) else None
            work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
            try:
                writer = FaissWriter(
                    name, root, work, live, embedder, chunker, self.policy, fresh=fresh
                )
                yield writer
                if writer.changed or writer.base is None:
                    if guard is not None:
                        guard()
                    final = writer.publish()
                    collect_garbage(root, final, keep=self.settings.keep_generations)
                else:
                    writer.docstore.close()
            finally:
                if work.exists():
                    shutil.rmtree(work, ignore_errors=True)
