"""Hardening of the store and the ingestion jobs (#15): a deleted collection stays
deleted, a DELETE never waits unbounded for a writer, Milvus writers are serialised
across processes, generations are durable before `CURRENT` moves, spools are bounded
and cleaned up, and a hostile file cannot stall or kill the API process.

Apps here embed with the model-free HashingEmbedder: what is tested is the locking and
the job's life, not retrieval quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.api.state import AppState
from qa.catalogue import Catalogue
from qa.catalogue.backend import open_backend
from qa.errors import CollectionNotFoundError, ConflictError
from qa.ingest import loaders
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor, IngestReport
from qa.records import Document
from qa.settings import Settings
from qa.store.faiss.generations import CURRENT
from qa.store.faiss.store import FaissStore
from tests.conftest import ROOT, HashingEmbedder
from tests.ingest import hostile_loaders

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


# -- (7) Milvus writers are serialised across processes ----------------------------------


@pytest.mark.parametrize("catalogue", ["sqlite", "postgres"])
def test_the_catalogue_lock_is_exclusive_and_gives_up_after_its_wait(
    tmp_path: Path, request: pytest.FixtureRequest, catalogue: str
) -> None:
    location = (
        request.getfixturevalue("postgres_url")
        if catalogue == "postgres"
        else tmp_path / "catalogue.sqlite"
    )
    backend, other = open_backend(location), open_backend(location)
    with backend.lock("milvus-qa-c", None):
        started = time.monotonic()
        with pytest.raises(TimeoutError), other.lock("milvus-qa-c", 0.3):
            pass
        assert 0.3 <= time.monotonic() - started < 3
        with other.lock("milvus-qa-d", 0.3):
            pass  # another collection's lock is free
    with other.lock("milvus-qa-c", 0.3):
        pass  # released with the block


# A replica's writer: ingests five documents of its own into collection "c" of the shared
# Milvus. Once inside the writer's lock it leaves IN; the first one in then waits until the
# second is about to take the lock (TRYING) and gives it a second and a half to get in too.
WRITER = """
import json, sys, time
from pathlib import Path
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor, IngestReport
from qa.records import Document
from qa.settings import Settings
from qa.store.backend import open_store
from tests.conftest import HashingEmbedder

settings, me, other, marks = Settings(**json.loads(sys.argv[1])), *sys.argv[2:4], Path(sys.argv[4])
store = open_store(settings)
opened = []

def inside() -> None:
    if opened:
        return
    opened.append(True)
    (marks / f"{me}.in").touch()
    if me == "first":
        deadline = time.monotonic() + 120
        while not (marks / f"{other}.trying").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.5)
        if (marks / f"{other}.in").exists():
            (marks / "overlap").touch()

documents = [Document(f"{me}-{n}", f"{me} notice {n} about harbour pilots") for n in range(5)]
ingestor = Ingestor(
    store, HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=10**6, guard=inside
)
(marks / f"{me}.trying").touch()
ingestor.run_documents(documents, "c", IngestReport("c"), progress=False)
"""

READER = """
import json, sys
from qa.settings import Settings
from qa.store.backend import open_store

stored = open_store(Settings(**json.loads(sys.argv[1]))).open("c")
ids = [summary["id"] for summary in stored.docstore.document_summaries()]
manifest = stored.manifest
print(json.dumps({"ids": ids, "documents": manifest.documents, "generation": manifest.generation}))
"""


@pytest.mark.parametrize("catalogue", ["sqlite", "postgres"])
def test_two_processes_writing_one_milvus_collection_take_turns_and_lose_nothing(
    milvus_server: str, tmp_path: Path, request: pytest.FixtureRequest, catalogue: str
) -> None:
    """Two replicas create the same collection at once: the second waits for the first
    to publish, then adds to it. Unserialised, both would create generation 1's Milvus
    collections and one would publish over (or drop) the other's."""
    values: dict[str, Any] = {
        "index_dir": str(tmp_path / "idx"),
        "vector_backend": "milvus",
        "milvus_uri": milvus_server,
        "milvus_namespace": f"t{uuid.uuid4().hex[:12]}",
    }
    if catalogue == "postgres":
        values["catalogue_url"] = request.getfixturevalue("postgres_url")
    else:
        values["catalogue"] = str(tmp_path / "shared" / "catalogue.sqlite")
    marks = tmp_path / "marks"
    marks.mkdir()

    def writer(me: str, other: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{me}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-c", WRITER, json.dumps(values), me, other, str(marks)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    first = writer("first", "second")
    deadline = time.monotonic() + 120
    while not (marks / "first.in").exists():
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        assert time.monotonic() < deadline, "the first writer never got in"
        time.sleep(0.05)
    second = writer("second", "first")
    for name, process in (("first", first), ("second", second)):
        assert process.wait(180) == 0, (tmp_path / f"{name}.log").read_text()
    assert not (marks / "overlap").exists(), "both writers were inside at once"
    # Read back by a third process, as another replica would (and away from this test
    # process's gRPC channel, which a long session's keepalive pings can get closed).
    stored = json.loads(
        subprocess.run(
            [sys.executable, "-c", READER, json.dumps(values)],
            cwd=ROOT, capture_output=True, check=True, timeout=120,
        ).stdout
    )  # fmt: skip
    assert sorted(stored["ids"]) == [f"{me}-{n}" for me in ("first", "second") for n in range(5)]
    assert (stored["documents"], stored["generation"]) == (10, 2)


# -- low: durable renames, spools cleaned up and bounded ---------------------------------


def test_the_generation_rename_is_fsynced_before_current_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.store.faiss import generations

    events: list[tuple[str, str]] = []
    rename, replace, fsync_dir = os.rename, os.replace, generations.fsync_dir

    def recorded(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            events.append((name, Path(args[-1] if name != "fsync_dir" else args[0]).name))
            return call(*args)

        return run

    monkeypatch.setattr(os, "rename", recorded("rename", rename))
    monkeypatch.setattr(os, "replace", recorded("replace", replace))
    monkeypatch.setattr(generations, "fsync_dir", recorded("fsync_dir", fsync_dir))
    ingestor = Ingestor(FaissStore(tmp_path / "idx"), HashingEmbedder(), ChunkerConfig(64, 8),
                        max_file_bytes=10**6)  # fmt: skip
    ingestor.run_documents([Document("a", TEXT)], "c", IngestReport("c"), progress=False)
    renamed = events.index(("rename", "g000001"))
    swapped = events.index(("replace", CURRENT))
    assert ("fsync_dir", "c") in events[renamed:swapped], events


def test_a_restart_removes_the_spool_of_the_jobs_it_fails(
    make_api: Callable[..., Api], tmp_path: Path
) -> None:
    settings = Settings(index_dir=tmp_path / "idx")
    catalogue = Catalogue(settings.catalogue_location, owner=settings.instance_name)
    spool = settings.index_dir / ".spool" / "upload-1"
    spool.mkdir(parents=True)
    (spool / "a.txt").write_text(TEXT)
    job = catalogue.create_job("docs", spool, ["a.txt"], None)
    claimed = catalogue.claim_next_job()
    assert claimed is not None and claimed.id == job.id  # running when the server died
    api = make_api()
    assert api.wait(job.id)["errors"] == ["interrupted: the server stopped before the job finished"]
    assert not spool.exists()


def test_uploads_queued_beyond_the_spool_quota_get_413(make_api: Callable[..., Api]) -> None:
    records = [{"id": f"r{n}", "text": TEXT} for n in range(4)]
    api = make_api(spool_max_bytes=600)
    api.create()
    started, release = hold_jobs_before_ingest(api)
    first = api.upload(records)  # 508 bytes, kept in the spool while its job is held
    assert started.wait(30)
    response = api.client.post("/v1/collections/docs/documents", json={"records": records})
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert "upload queue is full" in detail and "over the limit of 600" in detail
    spool = api.settings.index_dir / ".spool"
    assert len(list(spool.iterdir())) == 1, "the refused upload's files are gone"
    release.set()
    assert api.wait(first)["status"] == "done"
    assert api.wait(api.upload(records[:1]))["status"] == "done", "room again once it ran"


# -- files parsed in a child process under limits ----------------------------------------


@pytest.mark.parametrize(
    ("loader", "settings", "error"),
    [
        (
            hostile_loaders.backtrack,
            {"parse_cpu_s": 1},
            "trap.hostile: reading it used more than 1 s of CPU time (QA_PARSE_CPU_S)",
        ),
        (
            hostile_loaders.stall,
            {"parse_wall_s": 1.0},
            "trap.hostile: reading it took longer than 1 s (QA_PARSE_WALL_S)",
        ),
        (
            hostile_loaders.hoard,
            {"parse_memory_mb": 256},
            "trap.hostile: reading it needs more than the 256 MB a file may use "
            "(QA_PARSE_MEMORY_MB)",
        ),
    ],
    ids=["cpu", "wall", "memory"],
)
def test_a_file_over_a_parsing_limit_fails_alone_and_the_server_keeps_answering(
    make_api: Callable[..., Api],
    monkeypatch: pytest.MonkeyPatch,
    loader: loaders.Loader,
    settings: dict[str, Any],
    error: str,
) -> None:
    monkeypatch.setitem(loaders.LOADERS, ".hostile", loader)
    api = make_api(**settings)
    api.create()
    response = api.client.post(
        "/v1/collections/docs/documents",
        files=[
            ("files", ("trap.hostile", b"anything", "application/octet-stream")),
            ("files", ("notice.txt", TEXT.encode(), "text/plain")),
        ],
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    slowest, deadline = 0.0, time.monotonic() + 60
    while api.client.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the job never finished"
        started = time.monotonic()
        assert api.client.get("/healthz").status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    job = api.wait(job_id)
    assert job["status"] == "done" and job["errors"] == [error], job
    assert job["result"]["added"] == ["notice.txt"], "the next file was read in a new child"
    assert job["result"]["failed"] == ["trap.hostile"]
    assert slowest < 1.0, f"/healthz took {slowest:.2f} s while the file was read"


# A program that runs the app in its own process, with no `if __name__ == "__main__"`
# guard: the parsing child must not run it again (multiprocessing's children would).
EMBEDDING_PROGRAM = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from fastapi.testclient import TestClient
from qa.api.app import create_app
from qa.settings import Settings
from tests.conftest import HashingEmbedder

settings = Settings(index_dir=sys.argv[1], embedder="hashing")
with TestClient(create_app(settings, warm=False)) as client:
    client.app.state.qa.runtime.add_embedder(HashingEmbedder())
    client.post("/v1/collections", json={"name": "docs"})
    records = {"records": [{"id": "a", "text": "The rental bond is four weeks of rent."}]}
    job = client.post("/v1/collections/docs/documents", json=records).json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.05)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    print(json.dumps(job))
"""


def test_a_program_without_a_main_guard_runs_ingestion_jobs(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(EMBEDDING_PROGRAM)
    done = subprocess.run(
        [sys.executable, str(program), str(tmp_path / "idx"), str(ROOT)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    job = json.loads(done.stdout.splitlines()[-1])
    assert job["status"] == "done" and job["result"]["added"] == ["a"], job


def test_a_new_parsing_process_s_start_is_not_counted_as_the_file_s_parsing(
    tmp_path: Path,
) -> None:
    """The wall clock of a file starts once its child is ready: starting one (an
    interpreter importing the parsing libraries, 0.8 s here and more on a busy machine)
    took a 1 s limit's whole budget, and a small text file failed after a killed one."""
    from qa.ingest.sandbox import IsolatedReader, ParseLimits

    notice = tmp_path / "notice.txt"
    notice.write_text("The clinic opens at eight.\n")
    limits = ParseLimits.from_settings(Settings(parse_wall_s=0.25))
    reader = IsolatedReader(limits)
    try:
        for _ in range(2):  # a new child each time
            (doc,) = reader(notice, "notice.txt", max_bytes=10_000)
            assert doc.text.strip() == "The clinic opens at eight."
            reader.close()
    finally:
        reader.close()
