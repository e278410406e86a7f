"""All collections of one Milvus namespace: the table of manifests, and the Milvus
collections each generation's chunks and documents live in."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from typing import Any

from qa.catalogue.backend import open_backend
from qa.errors import (
    CollectionBusyError,
    CollectionNotFoundError,
    IndexCorruptError,
    QAError,
)
from qa.models.protocols import EmbedderInfo
from qa.records import check_name
from qa.settings import Settings
from qa.store.backend import Guard
from qa.store.manifest import Manifest
from qa.store.milvus.filters import literal
from qa.store.milvus.reader import MilvusReader
from qa.store.milvus.rows import milvus_name
from qa.store.milvus.schema import (
    MAX_TOPK,
    STRONG,
    create_chunks_and_docs,
    create_manifest_table,
)
from qa.store.milvus.writer import MilvusWriter

log = logging.getLogger(__name__)


def connect(settings: Settings) -> Any:
    from pymilvus import MilvusClient

    try:
        # pymilvus pings an idle channel every 10 s; a server that enforces gRPC's
        # default ping policy (milvus-lite's does) answers the third idle ping with
        # GOAWAY "too_many_pings" and the next call fails. So: ping only during calls,
        # on a connection of our own (pymilvus otherwise shares one per address with
        # any other client in the process, whatever its options).
        return MilvusClient(
            uri=settings.milvus_uri,
            token=settings.milvus_token,
            dedicated=True,
            grpc_options={"grpc.keepalive_permit_without_calls": False},
        )
    except Exception as exc:
        raise IndexCorruptError(f"cannot reach Milvus at {settings.milvus_uri}: {exc}") from exc


class MilvusStore:
    """All collections of one namespace in one Milvus."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else connect(settings)
        self.namespace = settings.milvus_namespace
        self.meta = f"{self.namespace}__collections"
        self._loaded: set[str] = set()
        self._shared = open_backend(settings.catalogue_location)
        self._ensure_meta()

    # -- the table of manifests ---------------------------------------------------------

    def _ensure_meta(self) -> None:
        if not self.client.has_collection(self.meta):
            try:
                create_manifest_table(self.client, self.meta)
            except Exception:
                # Replicas starting at once on an empty namespace race to create it: the
                # loser waits for the winner's collection to appear and be loaded.
                for _ in range(100):
                    time.sleep(0.1)
                    if self.client.has_collection(self.meta):
                        break
                else:
                    raise
        for attempt in range(100):
            try:
                self.ensure_loaded(self.meta)
                break
            except Exception:
                if attempt == 99:
                    raise
                time.sleep(0.1)

    def ensure_loaded(self, *collections: str) -> None:
        for collection in collections:
            if collection in self._loaded:
                continue
            state = self.client.get_load_state(collection)
            if "NotLoad" in str(state.get("state", "")):
                self.client.load_collection(collection)
            self._loaded.add(collection)

    def manifest_or_none(self, name: str) -> Manifest | None:
        rows = self.client.query(
            self.meta,
            filter=f"name == {literal(check_name(name))}",
            output_fields=["manifest"],
            consistency_level=STRONG,
        )
        if not rows:
            return None
        try:
            return Manifest(**json.loads(rows[0]["manifest"]))
        except (ValueError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read the manifest of {name!r}: {exc}") from exc

    def write_manifest(self, manifest: Manifest) -> None:
        self.client.upsert(
            self.meta,
            [
                {
                    "name": manifest.collection,
                    "manifest": json.dumps(asdict(manifest), ensure_ascii=False),
                    "placeholder": [0.0, 0.0],
                }
            ],
        )

    def names(self) -> list[str]:
        rows = self.client.query(
            self.meta, filter="", output_fields=["name"], limit=MAX_TOPK, consistency_level=STRONG
        )
        return sorted(r["name"] for r in rows)

    def exists(self, name: str) -> bool:
        return self.manifest_or_none(name) is not None

    def manifest(self, name: str) -> Manifest:
        manifest = self.manifest_or_none(name)
        if manifest is None:
            raise CollectionNotFoundError(
                f"collection {name!r} does not exist in Milvus namespace {self.namespace!r}; "
                f"create it with `qa ingest PATH --collection {name}`"
            )
        return manifest

    def version(self, name: str) -> object:
        manifest = self.manifest(name)
        return (manifest.generation, manifest.dense.get("chunks"), manifest.built_at)

    def open(self, name: str) -> MilvusReader:
        return MilvusReader(self, self.manifest(name))

    def stats(self, name: str) -> dict[str, Any]:
        """The manifest's figures and the Milvus they live in."""
        manifest = self.manifest(name)
        return {
            "collection": name,
            "generation": manifest.generation,
            "documents": manifest.documents,
            "chunks": manifest.chunks,
            "dense": manifest.dense,
            "embedder": manifest.embedder,
            "chunker": manifest.chunker,
            "built_at": manifest.built_at,
            "milvus_uri": self.settings.milvus_uri,
        }

    def verify(self, name: str) -> list[str]:
        """Whether Milvus holds as many documents and chunks as the manifest says."""
        try:
            collection = self.open(name)
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

    @contextmanager
    def lock(self, name: str, wait_s: float | None = None) -> Iterator[None]:
        """The collection's writer lock, shared by every process using this catalogue
        (an advisory lock in PostgreSQL, a file lock beside a SQLite catalogue): replicas
        writing one collection at once would each create or drop the other's Milvus
        collections. CollectionBusyError if it stays held for `wait_s`."""
        held = ExitStack()
        try:
            held.enter_context(self._shared.lock(f"milvus-{self.namespace}-{name}", wait_s))
        except TimeoutError:
            raise CollectionBusyError(
                f"collection {name!r} is being written (an ingestion holds it until it "
                f"publishes); gave up after {wait_s:g} s: retry later"
            ) from None
        with held:
            yield

    def remove(self, name: str, *, wait_s: float | None = None) -> None:
        with self.lock(check_name(name), wait_s):
            manifest = self.manifest(name)
            self.client.delete(self.meta, filter=f"name == {literal(name)}")
            for physical in (manifest.dense.get("chunks"), manifest.dense.get("docs")):
                if physical and self.client.has_collection(physical):
                    self.client.drop_collection(physical)
                    self._loaded.discard(physical)
        log.info("removed collection %s from Milvus", name)

    # -- physical collections -----------------------------------------------------------

    def physical(self, name: str, generation: int) -> tuple[str, str]:
        base = f"{self.namespace}_{milvus_name(name)}_g{generation:06d}"
        return f"{base}_chunks", f"{base}_docs"

    def create_physical(self, chunks: str, docs: str, dimension: int) -> None:
        create_chunks_and_docs(self.client, self.settings, chunks, docs, dimension)
        self._loaded.update((chunks, docs))

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
    ) -> Iterator[MilvusWriter]:
        """A change to a collection, published on clean exit. Incremental changes land
        document by document; a fresh one (a rebuild) fills new Milvus collections and
        publishes them whole, or drops them on error."""
        check_name(name)
        with self.lock(name, wait_s):
            if guard is not None:
                guard()
            writer = MilvusWriter(self, name, embedder, chunker, fresh=fresh)
            try:
                yield writer
                if writer.changed or writer.live is None or fresh:
                    if guard is not None:
                        guard()
                    writer.publish()
            except BaseException:
                writer.abandon()
                raise
