"""The bounded generation queue (503 with Retry-After), the request timeout (504,
generation stopped) and a closed stream freeing its place."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from qa.records import Answer
from tests.api.service import (
    Service,
    build_collection,
    fake_answer,
    metric_samples,
    problem,
    sample,
)


def test_a_full_generation_queue_is_503_until_a_place_frees(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(generation_concurrency=1, generation_queue=0)
    client = service.client
    assert client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    ask = {"question": "How much is the bond?", "collection": "docs"}
    held = service.state.admit()
    assert sample(metric_samples(client), "qa_generation_queue_depth") == 1
    for stream in (False, True):
        response = client.post("/v1/ask", json={**ask, "stream": stream})
        detail = problem(response, 503)["detail"]
        assert detail == (
            "the generation queue is full (1 questions in progress or waiting); "
            "retry after a few seconds"
        )
        assert response.headers["retry-after"] == "5"
    held.release()
    held.release()  # released once, however often asked
    assert sample(metric_samples(client), "qa_generation_queue_depth") == 0
    # Back to back: each answer leaves the queue before its response is complete.
    for _ in range(3):
        response = client.post("/v1/ask", json=ask)
        assert response.status_code == 200, response.text
        assert response.json()["found"] is False
    streamed = client.post("/v1/ask", json={**ask, "stream": True})
    assert streamed.status_code == 200 and "event: answer" in streamed.text
    assert client.post("/v1/ask", json=ask).status_code == 200
    assert sample(metric_samples(client), "qa_generation_queue_depth") == 0


@pytest.mark.parametrize(("block_first", "stream"), [(True, False), (False, False), (False, True)])
def test_the_request_timeout_is_504_and_stops_generation(
    make_service: Callable[..., Service], tmp_path: Path, block_first: bool, stream: bool
) -> None:
    embedder = build_collection(tmp_path / "idx")
    service = make_service(request_timeout_s=0.5)
    service.state.runtime.add_embedder(embedder)
    release, closed = threading.Event(), threading.Event()

    def slow_stream(*args: Any, **kwargs: Any) -> Generator[str | Answer, None, None]:
        try:
            if block_first:
                release.wait(20)
            yield "Four weeks"
            release.wait(20)
            yield fake_answer()
        finally:
            closed.set()

    service.state.pipeline.stream = slow_stream  # type: ignore[method-assign]
    started = time.monotonic()
    response = service.client.post(
        "/v1/ask",
        json={"question": "How much is the bond?", "collection": "docs", "stream": stream},
    )
    assert time.monotonic() - started < 5, "the deadline did not interrupt a slow step"
    if stream:
        assert response.status_code == 200
        assert "event: token" in response.text and "event: error" in response.text
        error = json.loads(response.text.split("event: error\ndata: ")[1].split("\n")[0])
        assert error["status"] == 504
    else:
        detail = problem(response, 504)["detail"]
        assert detail == "no answer within 0.5 s; generation was stopped"
    assert service.state._admitted == 0
    release.set()
    assert closed.wait(10), "the pipeline's iterator was never closed"


def test_client_disconnect_style_close_stops_generation(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    """A stream read to its end closes the iterator, and so frees the queue place."""
    embedder = build_collection(tmp_path / "idx")
    service = make_service()
    service.state.runtime.add_embedder(embedder)
    closed = threading.Event()

    def stream(*args: Any, **kwargs: Any) -> Generator[str | Answer, None, None]:
        try:
            yield "Four weeks"
            yield fake_answer()
        finally:
            closed.set()

    service.state.pipeline.stream = stream  # type: ignore[method-assign]
    response = service.client.post("/v1/ask", json={"question": "Bond?", "collection": "docs"})
    assert response.status_code == 200 and response.json()["citations"][0]["document"] == "a"
    assert closed.is_set() and service.state._admitted == 0
