"""POST /v1/embeddings: the local embedders in OpenAI's shape, behind the keys."""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np

from qa.models.protocols import Embedder
from tests.api.service import BOND, TABLETS, Keys, Service, bearer, problem

TEXTS = [BOND, TABLETS]


def test_embeds_texts_as_the_local_model_does(service: Service, minilm: Embedder) -> None:
    reply = service.client.post("/v1/embeddings", json={"model": "minilm", "input": TEXTS})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["object"] == "list" and body["model"] == "minilm"
    assert [row["index"] for row in body["data"]] == [0, 1]
    assert {row["object"] for row in body["data"]} == {"embedding"}
    vectors = np.array([row["embedding"] for row in body["data"]], dtype=np.float32)
    np.testing.assert_allclose(vectors, minilm.embed_passages(TEXTS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    tokens = sum(minilm.count_tokens(t) for t in TEXTS)
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_one_text_base64_and_queries(service: Service, minilm: Embedder) -> None:
    reply = service.client.post(
        "/v1/embeddings",
        json={"model": "minilm", "input": BOND, "encoding_format": "base64", "input_type": "query"},
    )
    assert reply.status_code == 200, reply.text
    (row,) = reply.json()["data"]
    vector = np.frombuffer(base64.b64decode(row["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, minilm.embed_queries([BOND])[0], atol=1e-6)


def test_bad_requests_are_problems(make_service: Callable[..., Service]) -> None:
    service = make_service(embeddings_max_inputs=3, embeddings_max_chars=100)
    post = service.client.post
    unknown = problem(post("/v1/embeddings", json={"model": "ada-002", "input": "x"}), 404)
    assert "'minilm'" in unknown["detail"] and "'e5-multilingual'" in unknown["detail"]
    many = problem(post("/v1/embeddings", json={"model": "minilm", "input": ["a"] * 4}), 413)
    assert "at most 3" in many["detail"]
    long = problem(post("/v1/embeddings", json={"model": "minilm", "input": ["a", "b" * 101]}), 413)
    assert long["detail"].startswith("input[1]: 101 characters")
    problem(post("/v1/embeddings", json={"model": "minilm", "input": []}), 422)
    assert (
        "input[0]"
        in problem(post("/v1/embeddings", json={"model": "minilm", "input": [" "]}), 422)["detail"]
    )
    problem(post("/v1/embeddings", json={"model": "minilm", "input": "x", "dims": 3}), 422)


def test_a_reader_key_suffices_and_no_key_is_401(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    body = {"model": "minilm", "input": "hello"}
    problem(service.client.post("/v1/embeddings", json=body), 401)
    problem(service.client.post("/v1/embeddings", json=body, headers=bearer(keys.revoked)), 401)
    reply = service.client.post("/v1/embeddings", json=body, headers=bearer(keys.reader))
    assert reply.status_code == 200, reply.text
