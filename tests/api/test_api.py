"""HTTP contract and bad input: every error is problem+json with a precise detail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor
from qa.settings import Settings
from qa.store.backend import open_store
from tests.conftest import HashingEmbedder


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(index_dir=tmp_path / "idx", max_body_bytes=4096, max_question_chars=200)
    with TestClient(create_app(settings, warm=False)) as test_client:
        yield test_client


def problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status and isinstance(body["detail"], str) and body["detail"]
    return body


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize("route", ["/v1/ask", "/v1/search"])
def test_malformed_json_is_400(client: TestClient, route: str) -> None:
    response = client.post(
        route, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert problem(response, 400)["detail"] == "the request body is not valid JSON"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "question"),
        ({"question": ""}, "question"),
        ({"question": 42}, "question"),
        ({"question": "ok", "k": 0}, "k"),
        ({"question": "ok", "k": 1000}, "k"),
        ({"question": "ok", "unknown": 1}, "unknown"),
        ({"question": "ok", "filters": {"a": {"nested": 1}}}, "filters"),
    ],
)
def test_invalid_ask_bodies_are_422_naming_the_field(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    detail = problem(client.post("/v1/ask", json=body), 422)["detail"]
    assert field in str(detail)


def test_blank_and_overlong_questions(client: TestClient) -> None:
    assert "empty" in str(problem(client.post("/v1/ask", json={"question": "   "}), 422)["detail"])
    detail = problem(client.post("/v1/search", json={"query": "x" * 201}), 422)["detail"]
    assert "over the limit of 200" in str(detail)


def test_oversized_body_is_413(client: TestClient) -> None:
    response = client.post("/v1/ask", json={"question": "x" * 10_000})
    assert "over the limit of 4096 bytes" in str(problem(response, 413)["detail"])


def test_oversized_body_without_content_length_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = client.post(
        "/v1/ask", content=chunks(), headers={"content-type": "application/json"}
    )
    problem(response, 413)


@pytest.mark.parametrize("route,key", [("/v1/ask", "question"), ("/v1/search", "query")])
def test_unknown_collection_is_404(client: TestClient, route: str, key: str) -> None:
    response = client.post(route, json={key: "anything", "collection": "nope"})
    assert "collection 'nope' does not exist" in str(problem(response, 404)["detail"])


def test_invalid_collection_name_is_422(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": "x", "collection": "../etc"})
    assert "invalid collection name" in str(problem(response, 422)["detail"])


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    problem(client.get("/v1/nothing-here"), 404)


def test_openapi_documents_the_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/healthz", "/readyz"} <= set(paths)


def test_search_over_http_returns_contract_shape(tmp_path: Path) -> None:
    """Search needs an embedder: a collection made with the test embedder, served by it."""
    index_dir = tmp_path / "idx"
    data = tmp_path / "d.jsonl"
    data.write_text(
        json.dumps({"id": "a", "text": "The bond is four weeks of rent.", "metadata": {"k": "v"}})
        + "\n"
        + json.dumps({"id": "b", "text": "Tablets every six hours."})
        + "\n"
    )
    embedder = HashingEmbedder()
    store = open_store(Settings(index_dir=index_dir))
    Ingestor(store, embedder, ChunkerConfig(64, 8), max_file_bytes=10**6).run(
        [data], "docs", progress=False
    )
    app = create_app(Settings(index_dir=index_dir), warm=False)
    with TestClient(app) as client:
        runtime = app.state.qa.runtime
        runtime.add_embedder(embedder)
        body = client.post("/v1/search", json={"query": "bond rent", "collection": "docs"}).json()
        first = body["results"][0]
        assert first["rank"] == 1 and first["document"] == "a" and first["chunk_id"] == "a#0"
        assert first["metadata"] == {"k": "v"} and first["page"] is None
        assert isinstance(first["score"], float) and first["text"].startswith("The bond")
        filtered = client.post(
            "/v1/search",
            json={"query": "bond rent", "collection": "docs", "filters": {"document": "b"}},
        ).json()
        assert [r["document"] for r in filtered["results"]] == ["b"]
        explained = client.post(
            "/v1/search", json={"query": "bond", "collection": "docs", "explain": True}
        ).json()["results"][0]
        assert explained["explain"]["dense_rank"] == 1 and explained["explain"]["sparse_rank"] == 1
        assert explained["explain"]["fused_score"] == explained["score"]
        sparse_only = client.post(
            "/v1/search", json={"query": "bond", "collection": "docs", "mode": "sparse"}
        ).json()["results"]
        assert [r["document"] for r in sparse_only] == ["a"]


def test_web_page_and_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'src="/static/app.js"' in page.text and "http" not in page.text.split("<body>")[1]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_the_upload_field_offers_exactly_the_formats_the_loaders_read(
    client: TestClient,
) -> None:
    import re

    from qa.ingest.loaders import LOADERS

    page = client.get("/").text
    found = re.search(r'id="files"[^>]*accept="([^"]+)"', page)
    assert found is not None
    assert set(found.group(1).split(",")) == set(LOADERS)
