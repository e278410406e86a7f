"""Prometheus metrics: one registry per app (tests start many), request counts and
latencies by route template (never the raw path: ids would explode the series), the
pipeline's own timings, the generation queue, and collection sizes read at scrape time.
Every label the client can influence takes a value from a bounded set."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _CollectionSizes(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        documents = GaugeMetricFamily(
            "qa_collection_documents", "Documents per collection.", labels=["collection"]
        )
        chunks = GaugeMetricFamily(
            "qa_collection_chunks", "Chunks per collection.", labels=["collection"]
        )
        for name in self.runtime.store.names():
            try:
                manifest = self.runtime.store.manifest(name)
            except Exception:
                continue
            documents.add_metric([name], manifest.documents)
            chunks.add_metric([name], manifest.chunks)
        yield documents
        yield chunks


class Metrics:
    def __init__(self, runtime: Runtime, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qa_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qa_request_seconds",
            "HTTP request latency by route template (to the end of the body).",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.retrieval = Histogram(
            "qa_retrieval_seconds",
            "Retrieval time of each question.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.generation = Histogram(
            "qa_generation_seconds",
            "Generation time of each answered question.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "qa_first_token_seconds",
            "Time from the question to the generator's first token.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "qa_answers", "Answers by outcome.", ["found"], registry=self.registry
        )
        queue = Gauge(
            "qa_generation_queue_depth",
            "Questions generating or waiting for the generator.",
            registry=self.registry,
        )
        queue.set_function(queue_depth)
        self.registry.register(_CollectionSizes(runtime))

    def observe_answer(self, timings: dict[str, float], found: bool) -> None:
        if "retrieval_s" in timings:
            self.retrieval.observe(timings["retrieval_s"])
        if "generation_s" in timings:
            self.generation.observe(timings["generation_s"])
        if "first_token_s" in timings:
            self.first_token.observe(timings["first_token_s"])
        self.answers.labels(found=str(found).lower()).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# h11 accepts any token as a method: a label taken from it as sent would let anyone
# grow the registry (and every scrape) by one series per made-up method.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's path template ('/v1/jobs/{job_id}', converters left out),
    which routing leaves in the scope; 'unmatched' for a 404 or a request refused before
    routing."""
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or "unmatched")


def method_label(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in _METHODS else "other"


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else "other"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Callable[[], Metrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics()
        if scope["type"] != "http" or metrics is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = route_template(scope)
            method = method_label(scope)
            metrics.requests.labels(route, method, status_label(status)).inc()
            metrics.latency.labels(route, method).observe(time.perf_counter() - started)
