"""The remote embedder against in-thread engines: batches sent in parallel and put
back in order, rows normalised, the fingerprint, replies it must refuse, and several
URLs sharing the batches (one down, all down). The real server (`qa serve`'s
/v1/embeddings) is in tests/e2e/test_remote_engines.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.errors import UpstreamError, UpstreamUnavailableError
from qa.models.embedders import load_remote_embedder
from qa.models.remote_client import EngineClient
from qa.models.remote_embedder import RemoteEmbedder
from qa.settings import Settings
from tests.conftest import free_port
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


def client(url: str, retries: int = 0) -> EngineClient:
    return EngineClient(
        url,
        role="embedder",
        key=None,
        connect_timeout_s=2.0,
        read_timeout_s=5.0,
        retries=retries,
        max_connections=8,
    )


def embedder(*urls: str, retries: int = 0, **options: Any) -> RemoteEmbedder:
    return RemoteEmbedder([client(url, retries) for url in urls], "served-model", **options)


def counting_engine(delay: float = 0.0) -> tuple[Engine, list[int]]:
    """An engine embedding as `vector` does, and the most requests it had in flight."""
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(delay)
        with lock:
            in_flight[0] -= 1
        rows = [{"index": i, "embedding": vector(t)} for i, t in enumerate(body["input"])]
        reply_json(h, {"data": rows[::-1]})

    return Engine(reply), most


def expected_vectors(texts: list[str]) -> np.ndarray:
    expected = np.array([vector(t) for t in texts], dtype=np.float32)
    return expected / np.linalg.norm(expected, axis=1, keepdims=True)


def test_batches_in_parallel_in_order_and_normalised(serve: Callable[[Engine], str]) -> None:
    engine, most = counting_engine(delay=0.1)
    remote = embedder(serve(engine), batch_size=2, concurrency=3, passage_prefix="passage: ")
    texts = [f"text {'x' * i}" for i in range(9)]
    vectors = remote.embed_passages(texts)
    np.testing.assert_allclose(vectors, expected_vectors(["passage: " + t for t in texts]))
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
    other = RemoteEmbedder(embedder(one).clients, "another-model")
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


def test_several_urls_share_the_batches_each_within_its_bound(
    serve: Callable[[Engine], str],
) -> None:
    (one, most_one), (two, most_two) = counting_engine(delay=0.05), counting_engine(delay=0.05)
    remote = embedder(serve(one), serve(two), batch_size=1, concurrency=2)
    texts = [f"passage {'y' * i}" for i in range(16)]
    np.testing.assert_allclose(remote.embed_passages(texts), expected_vectors(texts))
    sent = [len(engine.requests) for engine in (one, two)]
    assert sum(sent) == 17 and min(sent) >= 5, sent  # 16 batches and the probe
    assert most_one[0] == 2 and most_two[0] == 2


def test_a_url_that_is_down_leaves_its_batches_to_the_others(
    serve: Callable[[Engine], str],
) -> None:
    up, _ = counting_engine()
    down = f"http://127.0.0.1:{free_port()}/v1"
    remote = embedder(down, serve(up), batch_size=1, concurrency=2)
    texts = [f"passage {'z' * i}" for i in range(12)]
    np.testing.assert_allclose(remote.embed_passages(texts), expected_vectors(texts))
    assert len(up.requests) == 13


def test_all_urls_down_is_503_naming_each(serve: Callable[[Engine], str]) -> None:
    ports = [free_port(), free_port()]
    remote = embedder(*(f"http://127.0.0.1:{port}" for port in ports), retries=1)
    with pytest.raises(UpstreamUnavailableError) as caught:
        remote.embed_queries(["anyone?"])
    detail = caught.value.detail
    assert all(f"127.0.0.1:{port} is unreachable" in detail for port in ports), detail
    assert "tried 2 times" in detail and caught.value.status == 503


def test_a_bad_reply_from_one_url_is_embedded_by_another(
    serve: Callable[[Engine], str],
) -> None:
    broken = Engine(lambda h, body: reply_json(h, {"vectors": []}))
    up, _ = counting_engine()
    remote = embedder(serve(broken), serve(up), batch_size=1)
    assert remote.embed_passages(["a", "bb", "ccc"]).shape == (3, 3)
    assert len(broken.requests) >= 1 and len(up.requests) == 4


def test_the_setting_takes_one_url_or_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_EMBEDDER_MODEL", "minilm")
    monkeypatch.setenv("QA_EMBEDDER_URL", "http://gpu1:8080/v1")
    assert Settings().embedder_urls == ["http://gpu1:8080/v1"]
    monkeypatch.setenv("QA_EMBEDDER_URL", '["http://gpu1:8080/v1", "http://gpu2:8080"]')
    remote = load_remote_embedder(Settings())
    assert [c.url for c in remote.clients] == ["http://gpu1:8080/v1", "http://gpu2:8080/v1"]


def test_readiness_reports_the_urls_as_one_engine(
    serve: Callable[[Engine], str], tmp_path: Path
) -> None:
    up, _ = counting_engine()
    port = free_port()
    settings = Settings(
        index_dir=tmp_path / "idx",
        generator_url=serve(up),
        generator_model="m",
        embedder_url=[serve(up), f"http://127.0.0.1:{port}/v1"],
        embedder_model="served-model",
        audit=False,
    )
    with TestClient(create_app(settings, warm=False)) as api:
        engine = api.get("/readyz").json()["engines"]["embedder"]
    assert engine["reachable"] is True and engine["engine"].endswith(f", 127.0.0.1:{port}")
    assert f"127.0.0.1:{port} is unreachable" in engine["detail"]
