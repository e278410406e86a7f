"""Hardening of the store and the ingestion jobs (#15): a deleted collection stays
deleted, a DELETE never waits unbounded for a writer, Milvus writers are serialised
across processes, generations are durable before `CURRENT` moves, spools are bounded
and cleaned up, and a hostile file cannot stall or kill the API process.

Apps here embed with the model-free HashingEmbedder: what is tested is the locking and
the job's life, not retrieval quality."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.api.state import AppState
from qa.errors import CollectionNotFoundError, ConflictError
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor, IngestReport
from qa.records import Document
from qa.settings import Settings
from qa.store.faiss.store import FaissStore
from tests.conftest import HashingEmbedder

TEXT = "The rental bond is four weeks of rent, lodged with the tenancy authority."


@dataclass
class Api:
    client: TestClient
    settings: Settings

    @property
    def state(self) -> AppState:
        state: AppState = self.client.app.state.qa  # type: ignore[attr-defined]
        return state

    def create(self, name: str = "docs") -> None:
        response = self.client.post("/v1/collections", json={"name": name})
        assert response.status_code == 201, response.text

    def upload(self, records: list[dict[str, Any]], collection: str = "docs") -> str:
        response = self.client.post(
            f"/v1/collections/{collection}/documents", json={"records": records}
        )
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("done", "failed"):
                return job
            assert time.monotonic() < deadline, f"job still {job['status']}: {job}"
            time.sleep(0.02)


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """An app in open loopback mode over tmp_path/idx; keyword arguments are settings."""
    started: list[TestClient] = []

    def make(**overrides: Any) -> Api:
        settings = Settings(**{"index_dir": tmp_path / "idx", "embedder": "hashing", **overrides})
        client = TestClient(create_app(settings, warm=False))
        client.__enter__()
        started.append(client)
        api = Api(client, settings)
        api.state.runtime.add_embedder(HashingEmbedder())
        return api

    yield make
    for client in reversed(started):
        client.__exit__(None, None, None)


def hold_jobs_before_ingest(api: Api) -> tuple[threading.Event, threading.Event]:
    """(started, release): a job's ingestion waits, once started, until released."""
    started, release = threading.Event(), threading.Event()
    ingest = api.state.runtime.ingest

    def held(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(30)
        return ingest(*args, **kwargs)

    api.state.runtime.ingest = held  # type: ignore[method-assign]
    return started, release


# -- (6) a deleted collection stays deleted ----------------------------------------------


@pytest.mark.parametrize("with_documents", [False, True], ids=["created-empty", "with-documents"])
def test_a_collection_deleted_while_its_job_runs_stays_deleted(
    make_api: Callable[..., Api], with_documents: bool
) -> None:
    api = make_api()
    api.create()
    if with_documents:
        assert api.wait(api.upload([{"id": "first", "text": TEXT}]))["status"] == "done"
    started, release = hold_jobs_before_ingest(api)
    job_id = api.upload([{"id": "late", "text": TEXT}])
    assert started.wait(30), "the job never started"
    assert api.client.delete("/v1/collections/docs").status_code == 204
    release.set()
    job = api.wait(job_id)
    assert job["status"] == "failed", job
    assert job["errors"] == [
        "collection 'docs' was deleted while the job ran; nothing was ingested"
    ]
    assert api.client.get("/v1/collections/docs").status_code == 404
    assert api.state.runtime.store.names() == [] and api.state.collection_names() == []


def test_a_writer_whose_guard_refuses_at_publish_leaves_nothing(tmp_path: Path) -> None:
    """The guard runs when the writer opens and again right before it publishes."""
    store = FaissStore(tmp_path / "idx")
    calls: list[str] = []

    def guard() -> None:
        calls.append("checked")
        if len(calls) == 2:
            raise ConflictError("deleted meanwhile")

    ingestor = Ingestor(
        store, HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=10**6, guard=guard
    )
    with pytest.raises(ConflictError):
        ingestor.run_documents([Document("a", TEXT)], "c", IngestReport("c"), progress=False)
    assert calls == ["checked", "checked"]
    assert not store.exists("c")
    assert [p.name for p in (tmp_path / "idx" / "c").iterdir()] == [".lock"]
    # A removal finds no collection, and takes the folder the writer left all the same.
    with pytest.raises(CollectionNotFoundError):
        store.remove("c")
    assert not (tmp_path / "idx" / "c").exists()


# -- (8) a DELETE waits a bounded time for a collection's writer --------------------------


def test_deletes_behind_a_long_ingest_get_503_and_leave_the_thread_pool_to_others(
    make_api: Callable[..., Api],
) -> None:
    """45 DELETEs (more than the 40 threads of the pool) while a writer holds the
    collection: each answers 503 with Retry-After after `delete_wait_s`, and a request
    needing the pool in the meantime is not starved."""
    api = make_api(delete_wait_s=1.0)
    api.create()
    assert api.wait(api.upload([{"id": "first", "text": TEXT}]))["status"] == "done"
    store = api.state.runtime.store
    manifest = store.manifest("docs")
    holding, release = threading.Event(), threading.Event()

    def long_ingest() -> None:
        with store.writer("docs", manifest.embedder, manifest.chunker):
            holding.set()
            release.wait(30)

    writer = threading.Thread(target=long_ingest)
    writer.start()
    assert holding.wait(30)
    # Without a bound every DELETE would wait for the writer: it gives up after 10 s here.
    threading.Timer(10, release.set).start()
    responses: list[Any] = []
    urls = ["/v1/collections/docs", "/v1/collections/docs/documents/first"]
    deletes = [
        threading.Thread(target=lambda n=n: responses.append(api.client.delete(urls[n % 2])))
        for n in range(45)
    ]
    try:
        for thread in deletes:
            thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        response = api.client.get("/v1/collections/docs")
        waited = time.monotonic() - started
        assert response.status_code == 200 and waited < 5, waited
        for thread in deletes:
            thread.join(30)
    finally:
        release.set()
        writer.join()
    assert len(responses) == 45
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert "is being written" in response.json()["detail"]
    # Once the writer is done, a DELETE goes through.
    assert api.client.delete("/v1/collections/docs/documents/first").status_code == 204
    assert api.client.delete("/v1/collections/docs").status_code == 204
