"""What the app holds for its lifetime: the runtime, pipelines, the catalogue, the
ingestion worker, metrics, and the bounded generation queue."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from qa.answer.pipeline import AskPipeline
from qa.api.audit import AuditLog
from qa.api.metrics import Metrics
from qa.catalogue import Catalogue
from qa.errors import BusyError, CollectionNotFoundError, QAError
from qa.jobs import JobWorker
from qa.records import SearchRequest, check_name
from qa.retrieval.context import QueryContext, validated
from qa.retrieval.search import Retriever
from qa.runtime import Runtime
from qa.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class AppState:
    def __init__(self, settings: Settings, *, open_allowed: bool = True) -> None:
        """open_allowed=False (a non-loopback bind): with no active key, refuse every
        /v1 request rather than run open."""
        self.settings = settings
        self.open_allowed = open_allowed
        self.runtime = Runtime(settings)
        self.retriever = Retriever(self.runtime)
        self.pipeline = AskPipeline(self.runtime)
        self.catalogue = Catalogue(settings.catalogue_location, owner=settings.instance_name)
        self.audit = AuditLog(
            settings.audit_path if settings.audit else None, settings.audit_questions
        )
        self.worker = JobWorker(self.runtime, self.catalogue)
        # Generation saturates the CPU: more concurrent runs only make each slower.
        self.generation_limiter = anyio.CapacityLimiter(settings.generation_concurrency)
        self.search_limiter = anyio.CapacityLimiter(4)
        self._admitted = 0
        self._admit_lock = threading.Lock()
        self.metrics = Metrics(self.runtime, lambda: self._admitted)
        self.ready = threading.Event()
        self.load_error: str | None = None

    def warm_up(self) -> None:
        """Load every model the service will need, so the first request is not slow."""
        try:
            for name in self.runtime.store.names():
                try:
                    self.runtime.query_embedder(self.runtime.collection(name))
                except QAError as exc:
                    log.warning("collection %s is not usable: %s", name, exc.detail)
            self.runtime.generator()
            self.ready.set()
            log.info("models loaded; ready")
        except Exception as exc:
            self.load_error = str(exc)
            log.exception("loading models failed")

    def collection_names(self) -> list[str]:
        """Collections with documents, and those created over HTTP still waiting for one."""
        return sorted(set(self.runtime.store.names()) | set(self.catalogue.collection_names()))

    def has_documents(self, name: str) -> bool:
        """Whether the collection has an index; 404 if it does not exist at all."""
        check_name(name)
        if self.runtime.store.exists(name):
            return True
        if self.catalogue.collection_embedder(name)[0]:
            return False
        raise CollectionNotFoundError(
            f"collection {name!r} does not exist; create it with POST /v1/collections "
            f"or `qa ingest PATH --collection {name}`"
        )

    def open_query(self, request: SearchRequest, *, what: str = "query") -> QueryContext | None:
        """The query validated and its collection opened once (blocking: call it off the
        event loop); None for a collection created over HTTP whose first upload has not
        landed yet. 404 for a collection that does not exist."""
        request = validated(request, self.settings, what)
        if self.has_documents(request.collection):
            return self.runtime.open_validated(request)
        return None

    def admit(self) -> Admission:
        """Admit a question to the generation queue, or 503 at once when it is full:
        a client told to retry beats one left waiting behind minutes of work."""
        limit = self.settings.generation_concurrency + self.settings.generation_queue
        with self._admit_lock:
            if self._admitted >= limit:
                raise BusyError(
                    f"the generation queue is full ({self._admitted} questions in progress or "
                    "waiting); retry after a few seconds"
                )
            self._admitted += 1
        return Admission(self._leave)

    def _leave(self) -> None:
        with self._admit_lock:
            self._admitted -= 1

    async def run_search(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, limiter=self.search_limiter)

    async def run_generation(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, limiter=self.generation_limiter)


class Admission:
    """A place in the generation queue. Released exactly once, however many of the
    paths that end a request (normal end, disconnect, error) try."""

    def __init__(self, leave: Callable[[], None]) -> None:
        self._leaving = [leave]
        self._lock = threading.Lock()
        self._released = False

    def on_release(self, step: Callable[[], None]) -> None:
        """Also undo `step`'s counterpart on release (run before leaving the queue)."""
        self._leaving.insert(0, step)

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        for step in self._leaving:
            step()
