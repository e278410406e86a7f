"""What the app holds for its lifetime: the runtime, pipelines, a bounded worker pool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from qa.errors import QAError
from qa.pipeline import AskPipeline
from qa.retrieval import Retriever
from qa.runtime import Runtime
from qa.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class AppState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime = Runtime(settings)
        self.retriever = Retriever(self.runtime)
        self.pipeline = AskPipeline(self.runtime)
        # Generation saturates the CPU: more concurrent runs only make each slower.
        self.generation_limiter = anyio.CapacityLimiter(settings.generation_concurrency)
        self.search_limiter = anyio.CapacityLimiter(4)
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

    async def run_search(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, limiter=self.search_limiter)

    async def run_generation(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, limiter=self.generation_limiter)
