"""Prometheus /metrics and the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qa.records import Answer
from tests.api.service import (
    BOND,
    TABLETS,
    UPLOAD,
    Keys,
    Service,
    bearer,
    build_collection,
    fake_answer,
    metric_samples,
    problem,
    read_audit,
    sample,
    upload_records,
)


def test_metrics(service: Service) -> None:
    client = service.client
    upload_records(service, "docs", [{"id": "a", "text": BOND}, {"id": "b", "text": TABLETS}])
    for _ in range(2):
        assert (
            client.post("/v1/search", json={"query": "bond", "collection": "docs"}).status_code
            == 200
        )
    job_id = "f00d" * 8
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    samples = metric_samples(client)
    assert (
        sample(samples, "qa_requests_total", route="/v1/search", method="POST", status="200") == 2
    )
    assert sample(samples, "qa_requests_total", route="/v1/jobs/{job_id}", status="404") == 1
    assert sample(samples, "qa_requests_total", route="/v1/jobs/{job_id}", status="200") >= 1  # type: ignore[operator]
    routes = {labels["route"] for labels, _ in samples["qa_requests_total"]}
    assert not any(job_id in r for r in routes), routes
    assert sample(samples, "qa_request_seconds_count", route="/v1/search", method="POST") == 2
    assert sample(samples, "qa_generation_queue_depth") == 0
    documents = client.get("/v1/collections/docs").json()["documents"]
    assert documents == 2
    assert sample(samples, "qa_collection_documents", collection="docs") == documents
    assert sample(samples, "qa_collection_chunks", collection="docs") >= 2  # type: ignore[operator]
    assert client.delete(f"{UPLOAD}/a").status_code == 204
    assert sample(metric_samples(client), "qa_collection_documents", collection="docs") == 1


def test_metrics_need_an_admin_key_once_keys_exist(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    client = service.client
    assert "needs an API key" in problem(client.get("/metrics"), 401)["detail"]
    assert (
        "needs 'admin'"
        in problem(client.get("/metrics", headers=bearer(keys.reader)), 403)["detail"]
    )
    oversize = client.post(
        "/v1/search",
        content=b"x" * (service.settings.max_body_bytes + 1),
        headers={**bearer(keys.reader), "content-type": "application/json"},
    )
    problem(oversize, 413)
    response = client.get("/metrics", headers=bearer(keys.admin))
    assert response.status_code == 200
    counted = [
        s
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == "qa_requests_total" and s.labels["status"] == "413"
    ]
    assert counted and counted[0].value == 1  # refused by the body limit, and still counted


def test_audit_log_records_hashes_by_default(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    client = service.client
    upload_records(
        service,
        "docs",
        [{"id": "a", "text": BOND}, {"id": "b", "text": TABLETS}],
        bearer(keys.writer),
    )
    query = "how much is the rental bond for patient Jane Roe?"
    response = client.post(
        "/v1/search",
        json={"query": query, "collection": "docs", "k": 2},
        headers=bearer(keys.reader),
    )
    returned = [r["document"] for r in response.json()["results"]]
    assert sorted(returned) == ["a", "b"]
    entries = read_audit(service.settings)
    (search,) = [e for e in entries if e["route"] == "/v1/search"]
    assert search["key_id"] == keys.reader_id and search["collection"] == "docs"
    assert search["question_sha256"] == hashlib.sha256(query.encode()).hexdigest()
    assert "question" not in search and search["documents"] == returned
    assert "Jane Roe" not in service.settings.audit_path.read_text()
    (upload,) = [e for e in entries if e["route"] == "/v1/collections/{collection}/documents"]
    assert upload["documents"] == ["a", "b"] and upload["collection"] == "docs"
    # A refused request is recorded, as a refusal: no documents, no question.
    client.post(
        "/v1/search", json={"query": query, "collection": "docs"}, headers=bearer(keys.other)
    )
    *_, refused = read_audit(service.settings)
    assert refused["status"] == 403 and refused["route"] == "/v1/search"
    assert refused["documents"] == [] and "question_sha256" not in refused


def test_audit_log_of_answers_and_question_text(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    embedder = build_collection(tmp_path / "idx")
    service = make_service(audit_questions="text")
    service.state.runtime.add_embedder(embedder)

    def stream(*args: Any, **kwargs: Any) -> Generator[str | Answer, None, None]:
        yield "Four weeks"
        yield fake_answer("a")

    service.state.pipeline.stream = stream  # type: ignore[method-assign]
    question = "How much is the bond?"
    response = service.client.post("/v1/ask", json={"question": question, "collection": "docs"})
    assert response.status_code == 200, response.text
    (entry,) = read_audit(service.settings)
    assert entry["route"] == "/v1/ask" and entry["collection"] == "docs"
    assert entry["key_id"] is None and entry["question"] == question
    assert "question_sha256" not in entry and entry["documents"] == ["a"]
    assert service.client.delete(f"{UPLOAD}/b").status_code == 204
    deleted = read_audit(service.settings)[-1]
    assert deleted["route"] == "/v1/collections/{collection}/documents/{document_id}"
    assert deleted["documents"] == ["b"]


@pytest.mark.slow
def test_a_real_answer_is_audited_and_measured(make_service: Callable[..., Service]) -> None:
    """The whole path with the tiny generator: the audit names the cited documents."""
    service = make_service(generator="tiny")
    client = service.client
    assert client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    upload_records(service, "docs", [{"id": "lease", "text": BOND}, {"id": "med", "text": TABLETS}])
    question = "How much is the rental bond?"
    response = client.post("/v1/ask", json={"question": question, "collection": "docs"})
    assert response.status_code == 200, response.text
    answer = response.json()
    (entry,) = [e for e in read_audit(service.settings) if e["route"] == "/v1/ask"]
    assert entry["documents"] == list(dict.fromkeys(c["document"] for c in answer["citations"]))
    assert entry["question_sha256"] == hashlib.sha256(question.encode()).hexdigest()
    samples = metric_samples(client)
    assert sample(samples, "qa_answers_total", found=str(answer["found"]).lower()) == 1
    assert sample(samples, "qa_requests_total", route="/v1/ask", status="200") == 1
    assert sample(samples, "qa_generation_queue_depth") == 0
