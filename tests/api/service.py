"""Helpers shared by the service tests (tests/api): an app per test over a temporary
index dir, with the real MiniLM for ingestion jobs and no generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from qa.api.state import AppState
from qa.catalogue import Catalogue
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor
from qa.records import Answer, Citation
from qa.settings import Settings
from qa.store.backend import open_store
from tests.conftest import HashingEmbedder

BOND = "The rental bond is four weeks of rent, lodged with the tenancy authority."


TABLETS = "Take two paracetamol tablets every six hours with a glass of water."


PDF_JUNK = os.urandom(3000)


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and isinstance(body["detail"], str) and body["detail"]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Service:
    client: TestClient
    app: FastAPI
    settings: Settings

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.qa
        return state

    @property
    def catalogue(self) -> Catalogue:
        return self.state.catalogue


def wait_job(
    client: TestClient, job_id: str, headers: dict[str, str] | None = None, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}: {job}"
        time.sleep(0.05)


def upload_records(
    service: Service,
    collection: str,
    records: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = service.client.post(
        f"/v1/collections/{collection}/documents", json={"records": records}, headers=headers
    )
    assert response.status_code == 202, response.text
    job = wait_job(service.client, response.json()["id"], headers)
    assert job["status"] == "done", job
    return job


def build_collection(index_dir: Path, name: str = "docs") -> HashingEmbedder:
    """A collection built without any model: for routes that need an index but whose
    pipeline the test replaces."""
    data = index_dir.parent / f"{name}.jsonl"
    data.write_text(
        json.dumps({"id": "a", "text": BOND}) + "\n" + json.dumps({"id": "b", "text": TABLETS})
    )
    embedder = HashingEmbedder()
    Ingestor(
        open_store(Settings(index_dir=index_dir)),
        embedder,
        ChunkerConfig(64, 8),
        max_file_bytes=10**6,
    ).run([data], name, progress=False)
    return embedder


def metric_samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def sample(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float | None:
    for got, value in samples.get(name, []):
        if all(got.get(k) == v for k, v in labels.items()):
            return value
    return None


def qa_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update({"HF_HUB_OFFLINE": "1", "QA_CONFIG": str(cwd / "none.toml")})
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


@dataclass
class Keys:
    admin: str
    writer: str  # writer on 'docs'
    reader: str  # reader on 'docs'
    other: str  # admin on 'other' only
    revoked: str
    reader_id: str


COLLECTION_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/collections/docs", None),
    ("DELETE", "/v1/collections/docs", None),
    ("POST", "/v1/collections/docs/documents", {"records": [{"id": "a", "text": "x"}]}),
    ("GET", "/v1/collections/docs/documents", None),
    ("GET", "/v1/collections/docs/documents/a.txt", None),
    ("DELETE", "/v1/collections/docs/documents/a.txt", None),
    ("POST", "/v1/search", {"query": "bond", "collection": "docs"}),
    ("POST", "/v1/ask", {"question": "bond?", "collection": "docs"}),
]

V1_ROUTES = [
    ("GET", "/v1/collections", None),
    ("POST", "/v1/collections", {"name": "fresh"}),
    ("GET", "/v1/jobs/0123456789abcdef", None),
    *COLLECTION_ROUTES,
]


UPLOAD = "/v1/collections/docs/documents"


def files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name, data)) for name, data in items]


def fake_answer(document: str = "a") -> Answer:
    citation = Citation(1, document, f"{document}#0", None, BOND, BOND, 0.9, 0, 10, "", None)
    return Answer("Four weeks of rent [1].", True, [citation], "en", {"retrieval_s": 0.01})


def read_audit(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in settings.audit_path.read_text().splitlines()]
