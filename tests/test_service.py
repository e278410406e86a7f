"""The service layer: API keys, roles and scopes, collections and documents over HTTP,
ingestion jobs, the generation queue's 503, the request timeout, /metrics and the
audit log. Every error is problem+json with a precise detail.

Ingestion jobs embed with the real MiniLM, loaded once for the session and shared by
every app; nothing here loads the generator (the pipeline is faked where an answer
with documents is needed).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from qa.api.app import create_app
from qa.api.state import AppState
from qa.catalogue import Catalogue
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor
from qa.models.protocols import Embedder
from qa.records import Answer, Citation
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.backend import open_store
from tests.conftest import HashingEmbedder

BOND = "The rental bond is four weeks of rent, lodged with the tenancy authority."
TABLETS = "Take two paracetamol tablets every six hours with a glass of water."
PDF_JUNK = os.urandom(3000)


# --------------------------------------------------------------------------- helpers


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and isinstance(body["detail"], str) and body["detail"]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The real MiniLM, loaded once: each app's runtime is handed this instance."""
    return Runtime(Settings(embedder="minilm")).embedder("minilm")


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


@pytest.fixture
def make_service(tmp_path: Path, minilm: Embedder) -> Iterator[Callable[..., Service]]:
    """Start an app (no model warm-up) over tmp_path/idx; keyword arguments are settings,
    `open_allowed` goes to create_app."""
    started: list[TestClient] = []

    def make(*, open_allowed: bool = True, **overrides: Any) -> Service:
        values: dict[str, Any] = {"index_dir": tmp_path / "idx", "embedder": "minilm"}
        values.update(overrides)
        settings = Settings(**values)
        app = create_app(settings, warm=False, open_allowed=open_allowed)
        client = TestClient(app)
        client.__enter__()
        started.append(client)
        app.state.qa.runtime.add_embedder(minilm)
        return Service(client, app, settings)

    yield make
    for client in reversed(started):
        client.__exit__(None, None, None)


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


# ------------------------------------------------------------------- keys and roles


@dataclass
class Keys:
    admin: str
    writer: str  # writer on 'docs'
    reader: str  # reader on 'docs'
    other: str  # admin on 'other' only
    revoked: str
    reader_id: str


@pytest.fixture
def keyed(make_service: Callable[..., Service], tmp_path: Path) -> tuple[Service, Keys]:
    """A service with keys, and an empty collection 'docs' created over HTTP."""
    catalogue = Catalogue(tmp_path / "idx" / "catalogue.sqlite")
    _, admin = catalogue.create_key("ops", "admin", ["*"])
    _, writer = catalogue.create_key("editor", "writer", ["docs"])
    reader_key, reader = catalogue.create_key("clerk", "reader", ["docs"])
    _, other = catalogue.create_key("elsewhere", "admin", ["other"])
    gone, revoked = catalogue.create_key("former", "admin", ["*"])
    assert catalogue.revoke_key(gone.id)
    service = make_service()
    created = service.client.post("/v1/collections", json={"name": "docs"}, headers=bearer(admin))
    assert created.status_code == 201, created.text
    return service, Keys(admin, writer, reader, other, revoked, reader_key.id)


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


@pytest.mark.parametrize(("method", "path", "body"), V1_ROUTES)
def test_every_v1_route_needs_a_valid_key(
    keyed: tuple[Service, Keys], method: str, path: str, body: dict[str, Any] | None
) -> None:
    service, keys = keyed
    bad_headers: list[tuple[dict[str, str], str]] = [
        ({}, "needs an API key"),
        (bearer("qa_000000000000_not-the-secret"), "unknown or has been revoked"),
        (bearer("not-even-a-key"), "unknown or has been revoked"),
        (bearer(keys.revoked), "unknown or has been revoked"),
        ({"Authorization": f"Basic {keys.admin}"}, "must read 'Bearer <key>'"),
        ({"Authorization": "Bearer "}, "must read 'Bearer <key>'"),
    ]
    for headers, detail in bad_headers:
        response = service.client.request(method, path, json=body, headers=headers)
        assert detail in problem(response, 401)["detail"], headers
        assert response.headers["www-authenticate"].startswith("Bearer")
    # Nothing was changed by the refused requests.
    names = [
        c["name"]
        for c in service.client.get("/v1/collections", headers=bearer(keys.admin)).json()[
            "collections"
        ]
    ]
    assert names == ["docs"]
    assert service.catalogue.queued_jobs() == 0


@pytest.mark.parametrize(("method", "path", "body"), COLLECTION_ROUTES)
def test_a_key_scoped_elsewhere_gets_403(
    keyed: tuple[Service, Keys], method: str, path: str, body: dict[str, Any] | None
) -> None:
    service, keys = keyed
    response = service.client.request(method, path, json=body, headers=bearer(keys.other))
    assert "may not use collection 'docs'" in problem(response, 403)["detail"]


def test_roles(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    client = service.client
    record = {"records": [{"id": "a", "text": BOND}]}
    # A reader reads, and nothing more.
    assert client.get("/v1/collections/docs", headers=bearer(keys.reader)).status_code == 200
    for method, path, body in [
        ("POST", "/v1/collections/docs/documents", record),
        ("DELETE", "/v1/collections/docs/documents/a", None),
        ("POST", "/v1/collections", {"name": "docs2"}),
        ("DELETE", "/v1/collections/docs", None),
    ]:
        response = client.request(method, path, json=body, headers=bearer(keys.reader))
        assert "has role 'reader'" in problem(response, 403)["detail"], path
    # A writer uploads and deletes documents, may create collections in its scope only,
    # and may not delete a collection.
    response = client.delete("/v1/collections/docs", headers=bearer(keys.writer))
    assert "has role 'writer'; this needs 'admin'" in problem(response, 403)["detail"]
    response = client.post("/v1/collections", json={"name": "mine"}, headers=bearer(keys.writer))
    assert "may not use collection 'mine'" in problem(response, 403)["detail"]
    response = client.post("/v1/collections", json={"name": "docs"}, headers=bearer(keys.writer))
    assert "collection 'docs' already exists" in problem(response, 409)["detail"]
    assert client.get("/v1/collections/docs", headers=bearer(keys.admin)).status_code == 200
    # Each key lists only the collections it may use.
    created = client.post("/v1/collections", json={"name": "other"}, headers=bearer(keys.admin))
    assert created.status_code == 201

    def listed(token: str) -> list[str]:
        body = client.get("/v1/collections", headers=bearer(token)).json()
        return [c["name"] for c in body["collections"]]

    assert listed(keys.admin) == ["docs", "other"]
    assert listed(keys.reader) == ["docs"]
    assert listed(keys.other) == ["other"]
    # The admin deletes; the collection is gone for everyone.
    assert client.delete("/v1/collections/other", headers=bearer(keys.other)).status_code == 204
    response = client.get("/v1/collections/other", headers=bearer(keys.admin))
    assert "collection 'other' does not exist" in problem(response, 404)["detail"]


def test_jobs_are_readable_only_within_the_key_scope(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    response = service.client.post(
        "/v1/collections/docs/documents",
        json={"records": [{"id": "a", "text": BOND}]},
        headers=bearer(keys.writer),
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    assert wait_job(service.client, job_id, bearer(keys.reader))["status"] == "done"
    response = service.client.get(f"/v1/jobs/{job_id}", headers=bearer(keys.other))
    assert "may not use collection 'docs'" in problem(response, 403)["detail"]
    response = service.client.get("/v1/jobs/0123456789abcdef", headers=bearer(keys.admin))
    assert "no job '0123456789abcdef'" in problem(response, 404)["detail"]


def test_open_mode_then_a_key_then_revocation(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = make_service()
    client = service.client
    assert client.get("/v1/collections").json() == {"collections": []}
    assert client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    # Open, but a key that is sent is still checked.
    response = client.get("/v1/collections", headers=bearer("qa_000000000000_guess"))
    assert "unknown or has been revoked" in problem(response, 401)["detail"]
    # A key made by another process (the CLI) takes effect on the next request.
    catalogue = Catalogue(service.settings.catalogue_location)
    key, token = catalogue.create_key("ops", "reader", ["*"])
    response = client.get("/v1/collections")
    assert "needs an API key" in problem(response, 401)["detail"]
    assert client.get("/v1/collections", headers=bearer(token)).status_code == 200
    _, spare = catalogue.create_key("spare", "reader", ["*"])
    assert catalogue.revoke_key(key.id) and not catalogue.revoke_key(key.id)
    response = client.get("/v1/collections", headers=bearer(token))
    assert "unknown or has been revoked" in problem(response, 401)["detail"]
    assert client.get("/v1/collections", headers=bearer(spare)).status_code == 200
    stored = catalogue.keys()
    assert [k.revoked_at is not None for k in stored] == [True, False]


def test_no_key_and_no_open_mode_refuses_v1(make_service: Callable[..., Service]) -> None:
    service = make_service(open_allowed=False)
    client = service.client
    for method, path, body in V1_ROUTES:
        response = client.request(method, path, json=body)
        assert "needs an API key" in problem(response, 401)["detail"], path
    assert client.get("/healthz").status_code == 200
    assert service.state.collection_names() == []


def test_only_a_hash_of_each_key_is_stored(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path / "catalogue.sqlite")
    key, token = catalogue.create_key("ops", "writer", ["docs", "docs", " law "])
    assert token.startswith(f"qa_{key.id}_") and key.collections == ("docs", "law")
    assert catalogue.authenticate(token) == key
    assert catalogue.authenticate(token + "x") is None
    assert catalogue.authenticate(f"qa_{key.id}_wrong") is None
    secret = token.split("_", 2)[2]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in stored and token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


def test_keys_cli_create_list_revoke(make_service: Callable[..., Service], tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    created = qa_cli(
        "keys", "create", "--collections", "docs", "--role", "writer", "--name", "ci",
        "--index-dir", str(index_dir), cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("qa_") and "\n" not in token
    assert "not shown again" in created.stderr
    stored = b"".join(p.read_bytes() for p in index_dir.iterdir() if p.is_file())
    assert token.encode() not in stored and token.split("_", 2)[2].encode() not in stored

    listed = qa_cli("keys", "list", "--json", "--index-dir", str(index_dir), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "ci" and entry["role"] == "writer" and entry["collections"] == ["docs"]
    assert token not in listed.stdout and entry["revoked_at"] is None

    bad = qa_cli(
        "keys", "create", "--collections", "*", "--role", "root", "--index-dir", str(index_dir),
        cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 1 and "--role must be one of reader, writer, admin" in bad.stderr

    service = make_service()
    client = service.client
    assert client.get("/v1/collections").status_code == 401
    assert (
        client.post("/v1/collections", json={"name": "docs"}, headers=bearer(token)).status_code
        == 201
    )

    revoked = qa_cli("keys", "revoke", entry["id"], "--index-dir", str(index_dir), cwd=tmp_path)
    assert revoked.returncode == 0 and f"revoked {entry['id']}" in revoked.stdout
    response = client.get("/v1/collections", headers=bearer(token))
    assert "unknown or has been revoked" in problem(response, 401)["detail"]
    again = qa_cli("keys", "revoke", entry["id"], "--index-dir", str(index_dir), cwd=tmp_path)
    assert again.returncode == 1 and f"no active key '{entry['id']}'" in again.stderr


def test_serve_refuses_a_public_bind_without_keys(tmp_path: Path) -> None:
    result = qa_cli(
        "serve", "--host", "0.0.0.0", "--port", "1", "--index-dir", str(tmp_path / "idx"),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: refusing to serve on 0.0.0.0 without an API key")
    assert "qa keys create" in lines[0]
    assert "Uvicorn running" not in result.stderr + result.stdout


# ---------------------------------------------------------------------- bad input


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    """Open mode, small limits, and an empty collection 'docs'."""
    made = make_service(max_body_bytes=1024, max_upload_bytes=4096, max_upload_files=2)
    assert made.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    return made


UPLOAD = "/v1/collections/docs/documents"


def files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name, data)) for name, data in items]


def test_collection_create_conflicts_and_names(service: Service) -> None:
    client = service.client
    response = client.post("/v1/collections", json={"name": "docs"})
    assert "collection 'docs' already exists" in problem(response, 409)["detail"]
    for name in ["../etc", ".hidden", "a b", "x/y"]:
        response = client.post("/v1/collections", json={"name": name})
        assert "invalid collection name" in problem(response, 422)["detail"], name
    for body, field in [
        ({}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "x", "embedder": "bert"}, "embedder"),
    ]:
        assert field in problem(client.post("/v1/collections", json=body), 422)["detail"]
    created = client.post("/v1/collections", json={"name": "law.v2-b", "embedder": "minilm"})
    assert created.status_code == 201 and created.headers["location"] == "/v1/collections/law.v2-b"
    assert created.json() == {
        "name": "law.v2-b",
        "documents": 0,
        "chunks": 0,
        "embedder": "minilm",
        "generation": None,
        "created_at": None,
    }
    assert client.get("/v1/collections/law.v2-b").json()["embedder"] == "minilm"


def test_unknown_collection_is_404_everywhere(service: Service) -> None:
    client = service.client
    for method, path, body in COLLECTION_ROUTES:
        path = path.replace("docs", "nope")
        body = json.loads(json.dumps(body).replace("docs", "nope")) if body else None
        response = client.request(method, path, json=body)
        assert "collection 'nope' does not exist" in problem(response, 404)["detail"], path
    for method, path in [("GET", "/v1/collections/a b"), ("POST", "/v1/collections/a b/documents")]:
        response = client.request(method, path, json={"records": [{"id": "a", "text": "x"}]})
        assert "invalid collection name 'a b'" in problem(response, 422)["detail"], path
    response = client.post("/v1/search", json={"query": "x", "collection": "a b"})
    assert "invalid collection name" in problem(response, 422)["detail"]


def test_unknown_document_and_job_are_404(service: Service) -> None:
    client = service.client
    for method in ("GET", "DELETE"):
        response = client.request(method, f"{UPLOAD}/missing.txt")
        assert (
            "document 'missing.txt' is not in collection 'docs'" in problem(response, 404)["detail"]
        )
    response = client.get("/v1/jobs/nothing")
    assert "no job 'nothing'" in problem(response, 404)["detail"]
    listed = client.get(UPLOAD).json()
    assert listed == {"documents": [], "total": 0, "offset": 0, "limit": 100}


def test_body_limits(service: Service) -> None:
    client = service.client
    # JSON routes: max_body_bytes, announced or streamed.
    response = client.post("/v1/search", json={"query": "x" * 2000, "collection": "docs"})
    assert "over the limit of 1024 bytes" in problem(response, 413)["detail"]

    def chunks(size: int) -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(size // 500):
            yield b"x" * 500
        yield b'", "collection": "docs"}'

    response = client.post(
        "/v1/search", content=chunks(3000), headers={"content-type": "application/json"}
    )
    assert "over the limit of 1024 bytes" in problem(response, 413)["detail"]
    # Uploads: max_upload_bytes, whether announced or streamed.
    response = client.post(UPLOAD, files=files(("big.txt", b"word " * 1000)))
    assert "over the limit of 4096 bytes" in problem(response, 413)["detail"]
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def multipart() -> Iterator[bytes]:
        yield head
        for _ in range(10):
            yield b"word " * 200
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        UPLOAD,
        content=multipart(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "over the limit of 4096 bytes" in problem(response, 413)["detail"]
    # Over the JSON limit but under the upload limit: an upload is accepted.
    response = client.post(UPLOAD, files=files(("ok.txt", ((BOND + "\n") * 30).encode())))
    assert len((BOND + "\n").encode()) * 30 > 1024
    assert response.status_code == 202, response.text
    assert wait_job(client, response.json()["id"])["status"] == "done"


def test_upload_bad_input(service: Service) -> None:
    client = service.client
    good = ("good.txt", BOND.encode())
    response = client.post(UPLOAD, files=files(good, ("b.txt", b"b"), ("c.txt", b"c")))
    assert problem(response, 413)["detail"] == "too many files in one upload: the limit is 2"
    response = client.post(UPLOAD, files=files(good, ("virus.exe", b"MZ")))
    detail = problem(response, 415)["detail"]
    assert detail.startswith("virus.exe: unsupported file type") and ".pdf" in detail
    response = client.post(UPLOAD, files=files(good, ("empty.txt", b"")))
    assert problem(response, 422)["detail"] == "empty.txt: file is empty"
    response = client.post(UPLOAD, files=files(good, ("good.txt", b"again")))
    assert "'good.txt' appears twice" in problem(response, 422)["detail"]
    response = client.post(UPLOAD, files=[("document", good)])
    assert "unexpected form field(s) ['document']" in problem(response, 422)["detail"]
    response = client.post(UPLOAD, data={"files": "not a file"}, files=files(good))
    assert "unexpected form field(s) ['files']" in problem(response, 422)["detail"]
    response = client.post(UPLOAD, files=files((".env", b"x")))
    assert "every file needs a name" in problem(response, 422)["detail"]
    # Malformed multipart: a precise 422, not a bare 400.
    for content_type, body in [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"garbage without any boundary line"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; filename="a.txt"\r\n\r\nabc\r\n--x--\r\n',
        ),
    ]:
        response = client.post(UPLOAD, content=body, headers={"content-type": content_type})
        detail = problem(response, 422)["detail"]
        assert detail.startswith("malformed multipart body: ") or "holds no file" in detail, detail
    response = client.post(
        UPLOAD, content=b"--x\r\n", headers={"content-type": "multipart/form-data"}
    )
    assert problem(response, 422)["detail"] == (
        "malformed multipart body: Missing boundary in multipart."
    )
    # Other content types.
    response = client.post(UPLOAD, content=b"text", headers={"content-type": "text/plain"})
    assert problem(response, 415)["detail"].startswith("content type 'text/plain'")
    response = client.post(UPLOAD, content=b"text")
    assert problem(response, 415)["detail"].startswith("content type 'none'")
    # Nothing was queued and no spool folder was left behind.
    assert service.catalogue.queued_jobs() == 0
    spool = service.settings.index_dir / ".spool"
    assert not spool.exists() or list(spool.iterdir()) == []


@pytest.mark.parametrize(
    ("records", "status", "detail"),
    [
        (
            [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}],
            422,
            "records: duplicate id(s) ['a']",
        ),
        ([{"id": "a"}], 422, "records.0.text: Field required"),
        ([{"id": "a", "text": "ok"}, {"text": "no id"}], 422, "records.1.id: Field required"),
        ([{"id": "a", "text": "   "}], 422, "records.0.text: must not be blank"),
        ([{"id": " ", "text": "x"}], 422, "records.0.id: must not be blank"),
        ([{"id": "a", "text": "x", "extra": 1}], 422, "records.0.extra"),
        ([], 422, "records: List should have at least 1 item"),
    ],
)
def test_bad_records_are_422_naming_the_field(
    service: Service, records: list[dict[str, Any]], status: int, detail: str
) -> None:
    response = service.client.post(UPLOAD, json={"records": records})
    assert detail in problem(response, status)["detail"]
    assert service.catalogue.queued_jobs() == 0


def test_malformed_records_json_is_400(service: Service) -> None:
    response = service.client.post(
        UPLOAD, content=b'{"records": [', headers={"content-type": "application/json"}
    )
    assert problem(response, 400)["detail"] == "the request body is not valid JSON"


# -------------------------------------------------------------------- jobs and documents


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
    assert queued["progress"] == {"done": 0, "total": 0, "fraction": None}
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


# ------------------------------------------------------ generation queue and timeout


def fake_answer(document: str = "a") -> Answer:
    citation = Citation(1, document, f"{document}#0", None, BOND, BOND, 0.9, 0, 10, "", None)
    return Answer("Four weeks of rent [1].", True, [citation], "en", {"retrieval_s": 0.01})


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


# ------------------------------------------------------------------ metrics and audit


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


def read_audit(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in settings.audit_path.read_text().splitlines()]


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
