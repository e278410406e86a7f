"""Uploads as background jobs: progress, per-file errors, records, jobs interrupted by
a restart, and deletes that stay deleted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.catalogue import Catalogue
from qa.settings import Settings
from tests.api.service import (
    BOND,
    PDF_JUNK,
    TABLETS,
    UPLOAD,
    Service,
    files,
    problem,
    upload_records,
    wait_job,
)


def test_upload_job_runs_to_done_with_per_file_errors(service: Service) -> None:
    client, state = service.client, service.state
    gate = threading.Event()
    real_ingest = state.runtime.ingest

    def gated_ingest(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(30)
        return real_ingest(*args, **kwargs)

    state.runtime.ingest = gated_ingest  # type: ignore[method-assign]
    response = client.post(
        UPLOAD,
        files=files(("bond.txt", BOND.encode()), ("scan.pdf", PDF_JUNK)),
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued" and queued["files"] == ["bond.txt", "scan.pdf"]
    assert queued["progress"] == {
        "done": 0,
        "total": 0,
        "fraction": None,
        "phase": None,
        "unit": None,
        "file": None,
    }
    deadline = time.monotonic() + 10
    while (job := client.get(f"/v1/jobs/{queued['id']}").json())["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job["status"] == "running" and job["started_at"] and job["finished_at"] is None
    gate.set()
    job = wait_job(client, queued["id"])
    assert job["status"] == "done" and job["finished_at"]
    progress = job["progress"]
    assert progress["total"] > 0 and progress["done"] == progress["total"]
    assert progress["fraction"] == 1.0
    assert (progress["phase"], progress["unit"], progress["file"]) == ("embedding", "chunks", None)
    assert len(job["errors"]) == 1 and "scan.pdf" in job["errors"][0]
    assert job["result"]["added"] == ["bond.txt"] and job["result"]["failed"] == ["scan.pdf"]
    # The good file landed; the spool is gone.
    listed = client.get(UPLOAD).json()
    assert [d["id"] for d in listed["documents"]] == ["bond.txt"] and listed["total"] == 1
    document = client.get(f"{UPLOAD}/bond.txt").json()
    assert document["text"].strip() == BOND and document["chunks"] >= 1
    described = client.get("/v1/collections/docs").json()
    assert described["documents"] == 1 and described["embedder"] == "minilm"
    assert list((service.settings.index_dir / ".spool").iterdir()) == []
    hits = client.post("/v1/search", json={"query": "rental bond", "collection": "docs"}).json()
    assert hits["results"][0]["document"] == "bond.txt"


def test_a_job_reading_a_scan_says_which_file_and_which_page(service: Service) -> None:
    """While OCR reads a file the job counts its pages and names it; then chunks."""
    from qa.ingest.ocr import progress as ocr_progress

    client, state = service.client, service.state
    gate, read = threading.Event(), threading.Event()
    real_ingest = state.runtime.ingest

    def reading_ingest(*args: Any, **kwargs: Any) -> Any:
        ocr_progress.report("scan.pdf", 0, 3)
        time.sleep(0.6)  # the job's row is written at most twice a second
        ocr_progress.report("scan.pdf", 2, 3)
        read.set()
        assert gate.wait(30)
        return real_ingest(*args, **kwargs)

    state.runtime.ingest = reading_ingest  # type: ignore[method-assign]
    queued = client.post(UPLOAD, files=files(("bond.txt", BOND.encode()))).json()
    assert read.wait(10)
    progress = client.get(f"/v1/jobs/{queued['id']}").json()["progress"]
    gate.set()
    assert progress == {
        "done": 2,
        "total": 3,
        "fraction": 0.6667,
        "phase": "reading",
        "unit": "pages",
        "file": "scan.pdf",
    }
    done = wait_job(client, queued["id"])["progress"]
    assert (done["phase"], done["unit"], done["file"]) == ("embedding", "chunks", None)


def test_a_job_with_only_broken_files_fails(service: Service) -> None:
    response = service.client.post(UPLOAD, files=files(("scan.pdf", PDF_JUNK)))
    job = wait_job(service.client, response.json()["id"])
    assert job["status"] == "failed" and "scan.pdf" in job["errors"][0]
    assert service.client.get(UPLOAD).json()["total"] == 0


def test_records_upload(service: Service) -> None:
    job = upload_records(
        service,
        "docs",
        [
            {"id": "lease-1", "text": BOND, "title": "Lease", "metadata": {"kind": "law"}},
            {"id": "med-1", "text": TABLETS, "metadata": {"kind": "medicine"}},
        ],
    )
    assert job["files"] == ["lease-1", "med-1"] and job["result"]["added"] == ["lease-1", "med-1"]
    result = service.client.post(
        "/v1/search", json={"query": "rental bond", "collection": "docs", "k": 1}
    ).json()["results"][0]
    assert result["document"] == "lease-1" and result["title"] == "Lease"
    assert result["metadata"] == {"kind": "law"}


def test_a_job_left_running_fails_at_the_next_start(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    path = tmp_path / "idx" / "catalogue.sqlite"
    catalogue = Catalogue(path, owner=Settings(index_dir=tmp_path / "idx").instance_name)
    replica = Catalogue(path, owner="another-replica")
    spool = tmp_path / "spool"
    spool.mkdir()
    job = catalogue.create_job("docs", spool, ["a.txt"], None)
    theirs = replica.create_job("docs", spool, ["b.txt"], None)
    assert replica.claim_next_job() == replica.job(theirs.id)
    claimed = catalogue.claim_next_job()
    assert claimed is not None and claimed.id == job.id and claimed.status == "running"
    assert catalogue.claim_next_job() is None  # the other replica's job is not ours to take
    service = make_service()
    failed = service.client.get(f"/v1/jobs/{job.id}").json()
    assert failed["status"] == "failed" and failed["finished_at"]
    assert failed["errors"] == ["interrupted: the server stopped before the job finished"]
    # Another replica's running job is its own to report.
    assert service.client.get(f"/v1/jobs/{theirs.id}").json()["status"] == "running"


def test_a_job_for_a_deleted_collection_does_not_bring_it_back(service: Service) -> None:
    spool = service.settings.index_dir / ".spool" / "manual"
    spool.mkdir(parents=True)
    (spool / "a.txt").write_text(BOND)
    assert service.client.delete("/v1/collections/docs").status_code == 204
    job = service.catalogue.create_job("docs", spool, ["a.txt"], None)
    service.state.worker.notify()
    done = wait_job(service.client, job.id)
    assert done["status"] == "failed" and "was deleted" in done["errors"][0]
    assert "docs" not in service.state.collection_names() and not spool.exists()


def test_a_deleted_document_is_never_returned_after_the_204(service: Service) -> None:
    client = service.client
    upload_records(service, "docs", [{"id": "a", "text": BOND}, {"id": "b", "text": TABLETS}])
    for mode in ("hybrid", "dense", "sparse"):
        body: dict[str, Any] = {"query": "rental bond rent", "collection": "docs", "mode": mode}
        assert "a" in [
            r["document"] for r in client.post("/v1/search", json=body).json()["results"]
        ]
    assert client.delete(f"{UPLOAD}/a").status_code == 204
    for mode in ("hybrid", "dense", "sparse"):
        body = {"query": "rental bond rent", "collection": "docs", "mode": mode, "k": 10}
        results = client.post("/v1/search", json=body).json()["results"]
        assert "a" not in [r["document"] for r in results], mode
    listed = client.get(UPLOAD).json()
    assert [d["id"] for d in listed["documents"]] == ["b"] and listed["total"] == 1
    response = client.get(f"{UPLOAD}/a")
    assert "document 'a' is not in collection 'docs'" in problem(response, 404)["detail"]
    response = client.delete(f"{UPLOAD}/a")
    assert "document 'a' is not in collection 'docs'" in problem(response, 404)["detail"]
    assert client.get("/v1/collections/docs").json()["documents"] == 1
    # Deleting the collection removes it and its indexes.
    assert client.delete("/v1/collections/docs").status_code == 204
    assert not (service.settings.index_dir / "docs").exists()
    response = client.post("/v1/search", json={"query": "tablets", "collection": "docs"})
    assert "collection 'docs' does not exist" in problem(response, 404)["detail"]


def test_each_job_runs_on_a_thread_that_ends_with_it(service: Service, monkeypatch: Any) -> None:
    """Torch's OpenMP runtime keeps a team of threads for each thread that ran parallel
    work while that thread lives, and more teams than cores slow every small parallel
    call (a search's query embedding about 2x): a job's embedding must leave none behind."""
    worker = service.state.worker
    ran_on: list[threading.Thread] = []
    run = worker.run

    def recording(job: Any) -> None:
        ran_on.append(threading.current_thread())
        run(job)

    monkeypatch.setattr(worker, "run", recording)
    for name in ("first", "second"):
        done = upload_records(service, "docs", [{"id": name, "text": BOND}])
        assert done["status"] == "done"
    assert len(ran_on) == 2 and ran_on[0] is not ran_on[1]
    for thread in ran_on:
        assert thread.name.startswith("ingest-job-")
        thread.join(5)
        assert not thread.is_alive()
