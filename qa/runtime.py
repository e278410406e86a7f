"""Process-wide holder of loaded models and opened collections.

Models load once per process (the API's lifespan or one CLI command), never per
request. Opened collections are swapped for the newer generation as soon as
a writer publishes one, without a restart: readers keep the generation they
started with, so a request never sees half of a change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from qa.catalogue.page_images import PageImages
from qa.errors import IndexMismatchError
from qa.ingest import loaders
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import FileReader, Ingestor, IngestReport, Progress
from qa.models.embedders import embedder_folder, load_embedder, load_remote_embedder
from qa.models.protocols import Embedder, Generator
from qa.models.registry import load_generator, load_remote_generator
from qa.models.reranker import CrossEncoderReranker, Reranker
from qa.records import Document, SearchRequest
from qa.retrieval.context import QueryContext, validated
from qa.settings import Settings
from qa.store.backend import CollectionReader, Guard, Store, open_store
from qa.text import cjk_share, detect

log = logging.getLogger(__name__)


def configure_threads(threads: int) -> None:
    """Importing torch costs about a second: only when a thread count is set, which is
    only done right before a model loads."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store = open_store(settings)
        self._lock = threading.RLock()
        self._embedders: dict[str, Embedder] = {}
        self._generator: Generator | None = None
        self._verifier: Generator | None = None
        self._remote_embedder: Embedder | None = None
        self._reranker: Reranker | None = None
        self._collections: dict[str, tuple[object, CollectionReader]] = {}
        self._threads_set = False
        self._page_images: PageImages | None = None

    @property
    def page_images(self) -> PageImages:
        """Opened on first use: a search or an answer never needs the catalogue."""
        with self._lock:
            if self._page_images is None:
                self._page_images = PageImages(self.settings.catalogue_location)
            return self._page_images

    def _before_model_load(self) -> None:
        """Threads are set on the first model load, not at start-up, so that a command
        that needs no model (an unchanged re-ingest) never imports torch."""
        if not self._threads_set:
            configure_threads(self.settings.threads)
            self._threads_set = True

    def embedder(self, spec: str) -> Embedder:
        """The embedder for a setting or a manifest's recorded name, loaded once. With
        `QA_EMBEDDER_URL` set, the remote one for every name: the manifest check then
        refuses a collection built with another."""
        with self._lock:
            if self.settings.embedder_url:
                if self._remote_embedder is None:
                    self._remote_embedder = load_remote_embedder(self.settings)
                return self._remote_embedder
            return self.local_embedder(spec)

    def local_embedder(self, spec: str) -> Embedder:
        """A model of this machine, whatever QA_EMBEDDER_URL says: what this process
        serves on POST /v1/embeddings."""
        with self._lock:
            if spec not in self._embedders:
                name, _ = embedder_folder(spec)
                if name not in self._embedders:
                    log.info("loading embedder %s", name)
                    self._before_model_load()
                    self._embedders[name] = load_embedder(
                        spec,
                        batch_size=self.settings.embed_batch_size,
                        int8=self.settings.embed_int8,
                        settings=self.settings,
                    )
                self._embedders[spec] = self._embedders[name]
            return self._embedders[spec]

    def reranker(self) -> Reranker | None:
        """The configured cross-encoder, loaded once; None when reranking is off."""
        if self.settings.reranker is None:
            return None
        with self._lock:
            if self._reranker is None:
                log.info("loading reranker %s", self.settings.reranker)
                self._before_model_load()
                self._reranker = CrossEncoderReranker(self.settings.reranker)
            return self._reranker

    def add_embedder(self, embedder: Embedder) -> None:
        """Serve collections recorded with this embedder's name by this instance."""
        with self._lock:
            self._embedders[embedder.info["name"]] = embedder

    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None and self.settings.generator_url:
                self._generator = load_remote_generator(self.settings)
            if self._generator is None:
                log.info("loading generator %s", self.settings.generator)
                self._before_model_load()
                self._generator = load_generator(
                    self.settings.generator,
                    self.settings.cache_dir,
                    dtype=self.settings.generator_dtype,
                    backend=self.settings.generator_backend,
                    threads=self.settings.threads,
                    prefill=self.settings.generator_prefill,
                )
            return self._generator

    def verifier(self) -> Generator:
        """The model strict mode asks (`verifier`): the answering generator unless
        another is named, loaded once beside it with the transformers backend."""
        name = self.settings.verifier
        if name is None or name == self.settings.generator:
            return self.generator()
        with self._lock:
            if self._verifier is None:
                log.info("loading verifier %s", name)
                self._before_model_load()
                self._verifier = load_generator(
                    name, self.settings.cache_dir, threads=self.settings.threads
                )
            return self._verifier

    def collection(self, name: str) -> CollectionReader:
        """The live generation, reopened if a writer has published a newer one."""
        version = self.store.version(name)
        with self._lock:
            cached = self._collections.get(name)
            if cached is not None and cached[0] == version:
                return cached[1]
            opened = self.store.open(name)
            self._collections[name] = (version, opened)
            return opened

    def query_embedder(self, collection: CollectionReader) -> Embedder:
        embedder = self.embedder(collection.manifest.embedder["name"])
        collection.manifest.check_embedder(embedder.info)
        return embedder

    def open_query(self, request: SearchRequest, *, what: str = "query") -> QueryContext:
        """Validate a query, then open it: the one place a query is checked."""
        return self.open_validated(validated(request, self.settings, what))

    def open_validated(self, request: SearchRequest) -> QueryContext:
        """Open a validated query's collection and query embedder, once for the query."""
        collection = self.collection(request.collection)
        embedder = None if request.mode == "sparse" else self.query_embedder(collection)
        return QueryContext(request, detect(request.query), collection, embedder)

    def embedder_spec(
        self, collection: str, requested: str | None, documents: Sequence[Document]
    ) -> str:
        """The collection's recorded embedder; for a new one the requested or configured
        one, where 'auto' means multilingual e5 if CJK text is a real share of it, else MiniLM
        (measured on the sample corpus: e5 puts the right passage first for 93% of the
        questions against MiniLM's 70%, but embeds about 14x slower)."""
        remote = self.settings.embedder_model if self.settings.embedder_url else None
        if remote is not None and requested not in (None, "auto", remote):
            raise IndexMismatchError(
                f"this process embeds with the remote model {remote!r} (QA_EMBEDDER_URL), "
                f"not {requested!r}: unset QA_EMBEDDER_URL to embed locally"
            )
        if self.store.exists(collection):
            recorded = self.store.manifest(collection).embedder["name"]
            if remote is not None:
                return recorded  # refused by the manifest check if it is not `remote`
            if requested not in (None, recorded) and embedder_folder(requested)[0] != recorded:
                raise IndexMismatchError(
                    f"collection {collection!r} was built with embedder {recorded!r}, not "
                    f"{requested!r}; run `qa index rebuild --collection {collection} "
                    f"--embedder {requested}` to switch it"
                )
            return recorded
        if remote is not None:
            return remote
        spec = requested or self.settings.embedder
        if spec == "auto":
            multilingual = cjk_share(d.text for d in documents) >= self.settings.auto_cjk_share
            return "e5-multilingual" if multilingual else "minilm"
        return spec

    def ingest_documents(
        self,
        documents: Sequence[Document],
        collection: str,
        *,
        embedder: str | None = None,
        progress: bool = True,
        on_progress: Progress | None = None,
    ) -> IngestReport:
        report = IngestReport(collection)
        self._ingestor(collection, embedder, on_progress).run_documents(
            documents, collection, report, progress=progress
        )
        return report

    def _ingestor(
        self,
        collection: str,
        embedder: str | None,
        on_progress: Progress | None = None,
        guard: Guard | None = None,
        read_file: FileReader = loaders.load,
    ) -> Ingestor:
        """The embedder loads only once a document needs embedding; a request for another
        embedder than the collection's is refused at once all the same."""
        if embedder is not None:
            self.embedder_spec(collection, embedder, ())

        def choose(documents: Sequence[Document]) -> Embedder:
            return self.embedder(self.embedder_spec(collection, embedder, documents))

        # 'auto' for a new collection is chosen from all its documents: they are read first.
        chosen_up_front = (
            self.store.exists(collection) or (embedder or self.settings.embedder) != "auto"
        )
        return Ingestor(
            self.store,
            choose,
            ChunkerConfig(self.settings.chunk_tokens, self.settings.chunk_overlap_tokens),
            max_file_bytes=self.settings.max_file_bytes,
            on_progress=on_progress,
            guard=guard,
            read_file=read_file,
            pictures=self.page_images,
            read_ahead=self.settings.read_ahead_files if chosen_up_front else 0,
        )

    def ingest(
        self,
        paths: Sequence[Path],
        collection: str,
        *,
        embedder: str | None = None,
        sync: bool = False,
        progress: bool = True,
        on_progress: Progress | None = None,
        guard: Guard | None = None,
        read_file: FileReader = loaders.load,
    ) -> IngestReport:
        return self._ingestor(collection, embedder, on_progress, guard, read_file).run(
            paths, collection, sync=sync, progress=progress
        )

    def delete_document(
        self, collection: str, document_id: str, *, wait_s: float | None = None
    ) -> bool:
        """Remove one document from every index in one new generation; published before
        this returns, so the next search cannot see it. False if it was not there.
        CollectionBusyError if a writer kept the collection for `wait_s`."""
        manifest = self.store.manifest(collection)
        with self.store.writer(
            collection, manifest.embedder, manifest.chunker, wait_s=wait_s
        ) as writer:
            return writer.delete(document_id)

    def remove_collection(self, collection: str, *, wait_s: float | None = None) -> None:
        self.store.remove(collection, wait_s=wait_s)
        self.page_images.remove(collection)
        with self._lock:
            # Not closed: a request in flight may still read it; it goes with its last user.
            self._collections.pop(collection, None)
