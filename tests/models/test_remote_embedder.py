"""The remote embedder against an in-thread engine: batches sent in parallel and put
back in order, rows normalised, the fingerprint, and replies it must refuse. The real
server (`qa serve`'s /v1/embeddings) is in tests/e2e/test_remote_engines.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np
import pytest

from qa.errors import UpstreamError
from qa.models.remote_client import EngineClient
from qa.models.remote_embedder import RemoteEmbedder
from tests.models.engines import Engine, serve

__all__ = ["serve"]  # a fixture: imported so that pytest finds it here


def vector(text: str) -> list[float]:
    """Not unit length on purpose, and in reverse order of index below."""
    return [float(len(text)), 2.0, 0.0]


def reply_json(h: BaseHTTPRequestHandler, value: object) -> None:
    data = json.dumps(value).encode()
    h.send_response(200)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def embedder(url: str, **options: Any) -> RemoteEmbedder:
    client = EngineClient(
        url,
        role="embedder",
        key=None,
        connect_timeout_s=2.0,
        read_timeout_s=5.0,
        retries=0,
        max_connections=8,
    )
    return RemoteEmbedder(client, "served-model", **options)


def test_batches_in_parallel_in_order_and_normalised(serve: Callable[[Engine], str]) -> None:
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.1)
        with lock:
            in_flight[0] -= 1
        rows = [{"index": i, "embedding": vector(t)} for i, t in enumerate(body["input"])]
        reply_json(h, {"data": rows[::-1]})

    engine = Engine(reply)
    remote = embedder(serve(engine), batch_size=2, concurrency=3, passage_prefix="passage: ")
    texts = [f"text {'x' * i}" for i in range(9)]
    vectors = remote.embed_passages(texts)
    expected = np.array([vector("passage: " + t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    sizes = [len(body["input"]) for _, body in engine.requests[1:]]  # after the probe
    assert sorted(sizes) == [1, 2, 2, 2, 2] and most[0] == 3
    info = remote.info
    assert info["name"] == "served-model" and info["dimension"] == 3


def test_the_fingerprint_is_the_model_not_the_address(serve: Callable[[Engine], str]) -> None:
    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        reply_json(h, {"data": [{"index": 0, "embedding": [1.0, 0.0]}]})

    one, two = serve(Engine(reply)), serve(Engine(reply))
    assert one != two
    assert embedder(one).info == embedder(two).info
    other = RemoteEmbedder(embedder(one).client, "another-model")
    assert other.info["sha256"] != embedder(one).info["sha256"]


def test_query_prefix_and_input_type(serve: Callable[[Engine], str]) -> None:
    engine = Engine(lambda h, body: reply_json(h, {"data": [{"index": 0, "embedding": [1.0]}]}))
    remote = embedder(serve(engine), query_prefix="query: ", input_type=True)
    remote.embed_queries(["what"])
    body = engine.requests[-1][1]
    assert body["input"] == ["query: what"] and body["input_type"] == "query"
    assert body["model"] == "served-model"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"data": []}, "returned 0 vectors"),
        ({"vectors": []}, "without 'data'"),
        ({"data": [{"index": 0, "embedding": [float("nan"), 1.0]}]}, "not finite"),
    ],
)
def test_bad_replies_are_502(
    serve: Callable[[Engine], str], reply: dict[str, Any], message: str
) -> None:
    engine = Engine(lambda h, body: reply_json(h, reply))
    with pytest.raises(UpstreamError, match=message) as caught:
        embedder(serve(engine)).embed_queries(["a"])
    assert caught.value.status == 502


def test_a_model_that_changes_dimension_is_refused(serve: Callable[[Engine], str]) -> None:
    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        size = 2 if len(engine.requests) == 1 else 3
        reply_json(h, {"data": [{"index": i, "embedding": [1.0] * size} for i, _ in
                                enumerate(body["input"])]})  # fmt: skip

    engine = Engine(reply)
    with pytest.raises(UpstreamError, match=r"3-d vectors .* 2-d ones before"):
        embedder(serve(engine)).embed_passages(["a", "b"])
