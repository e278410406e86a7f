"""What a hostile client, a hostile web page or a failing server must not get from the
HTTP layer (issue 15): unbounded metric series, one resource reached through another's
URL, unaudited requests, open loopback mode used from a web page, bare 500s, file paths
and hosts in errors, responses without the browser's protections. And the rule that a
test which skips fails under CI=true.

Fast: apps in-process with the hashing embedder, no model loaded.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import ClientDisconnect

from qa.api.app import create_app
from qa.api.state import AppState
from qa.catalogue import Catalogue
from qa.client import Client, QAClientError
from qa.errors import CatalogueUnavailableError, IndexCorruptError
from qa.records import Answer, Citation
from qa.settings import Settings
from tests.api.test_openai import ThreadServer
from tests.conftest import HashingEmbedder

BOND = "The rental bond is four weeks of rent, lodged with the tenancy authority."
TABLETS = "Take two paracetamol tablets every six hours with a glass of water."


@dataclass
class App:
    client: TestClient
    app: FastAPI
    settings: Settings

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.qa
        return state

    def audit(self) -> list[dict[str, Any]]:
        path = self.settings.audit_path
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """An app over tmp_path/idx with the hashing embedder; keyword arguments are
    settings, `open_allowed` goes to create_app."""
    started: list[TestClient] = []

    def make(*, open_allowed: bool = True, **overrides: Any) -> App:
        values: dict[str, Any] = {"index_dir": tmp_path / "idx", "embedder": "hashing"}
        settings = Settings(**{**values, **overrides})
        app = create_app(settings, warm=False, open_allowed=open_allowed)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        started.append(client)
        app.state.qa.runtime.add_embedder(HashingEmbedder())
        return App(client, app, settings)

    yield make
    for client in reversed(started):
        client.__exit__(None, None, None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


def wait_job(client: TestClient, job_id: str, headers: dict[str, str] | None = None) -> Any:
    deadline = time.monotonic() + 30
    while (job := client.get(f"/v1/jobs/{job_id}", headers=headers).json())["status"] not in (
        "done",
        "failed",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
    return job


def upload(app: App, collection: str, records: list[dict[str, Any]], **headers: str) -> Any:
    response = app.client.post(
        f"/v1/collections/{collection}/documents", json={"records": records}, headers=headers
    )
    assert response.status_code == 202, response.text
    return wait_job(app.client, response.json()["id"], headers)


def spooled(app: App) -> list[Path]:
    spool = app.settings.index_dir / ".spool"
    return list(spool.iterdir()) if spool.exists() else []


# ------------------------------------------------------------------------ metrics


def test_made_up_methods_and_paths_add_no_metric_series(make_app: Callable[..., App]) -> None:
    app = make_app()
    for n in range(40):
        app.client.request(f"X-{n}", "/v1/collections")
        app.client.request(f"Y-{n}", f"/nowhere/{n}")
    families = text_string_to_metric_families(app.client.get("/metrics").text)
    requests = [s for f in families if f.name == "qa_requests" for s in f.samples]
    methods = {s.labels["method"] for s in requests}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    other = {s.labels["route"]: s.value for s in requests if s.labels["method"] == "other"}
    assert other == {"/v1/collections": 40, "unmatched": 40}


# -------------------------------------------------------- ids that look like paths


def test_an_id_naming_another_resource_reaches_only_its_document(tmp_path: Path) -> None:
    """Over real HTTP: the test client decodes paths once more than a server does."""
    settings = Settings(index_dir=tmp_path / "idx", embedder="hashing")
    with ThreadServer(create_app(settings, warm=False)) as server, Client(server.base) as qa:
        server.app.state.qa.runtime.add_embedder(HashingEmbedder())
        for name in ("victim", "docs"):
            qa.create_collection(name)
        ids = ["../../victim", "../victim", "law/act.md", "a%2Fb?c#d", "x/./../y"]
        job = qa.upload_records([{"id": i, "text": f"{BOND} {i}"} for i in ids], "docs")
        assert job["status"] == "done", job
        for document_id in ids:
            assert qa.document(document_id, "docs")["id"] == document_id
            qa.delete_document(document_id, "docs")
            with pytest.raises(QAClientError) as gone:
                qa.document(document_id, "docs")
            assert gone.value.status == 404
        assert {c["name"] for c in qa.collections()} == {"victim", "docs"}
        assert qa.documents("docs")["total"] == 0


def test_ids_a_url_cannot_carry_are_refused(make_app: Callable[..., App]) -> None:
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    for bad in (".", ".."):
        response = app.client.post(
            "/v1/collections/docs/documents", json={"records": [{"id": bad, "text": BOND}]}
        )
        assert "records.0.id" in problem(response, 422)
    assert spooled(app) == []


# ------------------------------------------------------------------------- audit


def test_every_v1_request_is_audited_with_its_real_status(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    catalogue = Catalogue(tmp_path / "idx" / "catalogue.sqlite")
    admin, admin_token = catalogue.create_key("ops", "admin", ["*"])
    _, elsewhere = catalogue.create_key("elsewhere", "admin", ["other"])
    app = make_app()
    client = app.client
    ops = bearer(admin_token)
    assert client.post("/v1/collections", json={"name": "docs"}, headers=ops).status_code == 201
    job = upload(app, "docs", [{"id": "lease", "text": BOND}], **ops)
    before = len(app.audit())
    calls: list[tuple[str, str, dict[str, str], int]] = [
        ("GET", "/v1/collections/docs/documents/lease", ops, 200),
        ("GET", "/v1/collections/docs/documents", ops, 200),
        ("GET", "/v1/collections/docs", ops, 200),
        ("GET", "/v1/collections", ops, 200),
        ("GET", f"/v1/jobs/{job['id']}", ops, 200),
        ("GET", "/v1/models", ops, 200),
        ("GET", "/v1/collections/docs/documents/lease", {}, 401),
        ("GET", "/v1/collections/docs/documents/lease", bearer("qa_000000000000_x"), 401),
        ("GET", "/v1/collections/docs/documents/lease", bearer(elsewhere), 403),
        ("GET", f"/v1/jobs/{job['id']}", bearer(elsewhere), 403),
        ("GET", "/v1/collections/docs/documents/missing", ops, 404),
        ("GET", "/v1/nowhere", ops, 404),
    ]
    for method, path, headers, status in calls:
        assert client.request(method, path, headers=headers).status_code == status, path
    entries = app.audit()[before:]
    assert [(e["method"], e["status"]) for e in entries] == [(m, s) for m, _, _, s in calls]
    read, listing, one, *_ = entries
    assert read["route"] == "/v1/collections/{collection}/documents/{document_id}"
    assert read["documents"] == ["lease"] and read["collection"] == "docs"
    assert read["key_id"] == admin.id and read["complete"] is True
    assert listing["route"] == "/v1/collections/{collection}/documents"
    assert one["route"] == "/v1/collections/{collection}"
    models = entries[5]
    assert models["route"] == "/v1/models" and models["key_id"] == admin.id
    no_key, unknown, forbidden, forbidden_job = entries[6:10]
    assert no_key["key_id"] is None and no_key["collection"] == "docs"
    assert unknown["key_id"] is None and forbidden["key_id"] is not None
    assert forbidden["collection"] == "docs" and forbidden["documents"] == []
    assert forbidden_job["collection"] == "docs"
    assert entries[-1]["route"] == "unmatched"


def _answer(text: str) -> Answer:
    citation = Citation(1, "lease", "lease#0", None, BOND, BOND, 0.9, 0, 10, "", None)
    return Answer(text, True, [citation], "en", {"retrieval_s": 0.01})


class ScriptedPipeline:
    """Stands in for the answer pipeline: the given draft tokens, then the answer."""

    def __init__(self, tokens: list[str], answer: Answer) -> None:
        self.tokens, self.answer = tokens, answer

    def stream(self, *args: Any, **kwargs: Any) -> Generator[str | Answer, None, None]:
        yield from self.tokens
        yield self.answer


def test_a_streamed_answer_whose_client_hangs_up_is_audited(make_app: Callable[..., App]) -> None:
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    upload(app, "docs", [{"id": "lease", "text": BOND}])
    app.state.pipeline = ScriptedPipeline(["Four", " weeks"], _answer("Four weeks [1]."))  # type: ignore[assignment]
    body = json.dumps({"question": "How much is the bond?", "stream": True, "collection": "docs"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not sent:
            return {"type": "http.request", "body": body.encode(), "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            raise OSError("the client hung up")  # how an ASGI 2.4 server reports it

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/ask",
        "raw_path": b"/v1/ask",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def call() -> None:
        with pytest.raises(ClientDisconnect):  # what the server would then log
            await app.app(scope, receive, send)

    assert app.client.portal is not None
    app.client.portal.call(call)
    assert sent[0]["status"] == 200
    (entry,) = [e for e in app.audit() if e["route"] == "/v1/ask"]
    assert entry["status"] == 200 and entry["complete"] is False
    assert entry["collection"] == "docs" and entry["method"] == "POST"
    assert entry["question_sha256"] == hashlib.sha256(b"How much is the bond?").hexdigest()


# ------------------------------------------------------------ open loopback mode


def test_open_mode_answers_only_its_own_host_names(make_app: Callable[..., App]) -> None:
    app = make_app(allowed_hosts=["qa.internal"])
    client = app.client
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:8000", "[::1]:8000", "qa.internal"):
        assert client.get("/v1/collections", headers={"host": host}).status_code == 200, host
    for host in ("attacker.example:8000", "127.0.0.1.nip.io", "localhost.attacker.example", "[::"):
        response = client.get("/v1/collections", headers={"host": host})
        assert "is not a name of this server" in problem(response, 403), host
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 403


def test_open_mode_refuses_other_sites_pages(make_app: Callable[..., App]) -> None:
    app = make_app()
    client = app.client
    upload_form = {"files": ("a.txt", BOND.encode())}
    assert client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    for headers in (
        {"origin": "http://attacker.example"},
        {"origin": "null"},
        {"origin": "http://testserver:8080"},
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"},
        {"sec-fetch-site": "same-site", "sec-fetch-mode": "cors"},
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"},  # a form's POST
    ):
        response = client.post("/v1/collections/docs/documents", files=upload_form, headers=headers)
        assert "was refused" in problem(response, 403), headers
    assert spooled(app) == [] and app.state.catalogue.queued_jobs() == 0
    own_page = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
    assert client.post("/v1/collections", json={"name": "own"}, headers=own_page).status_code == 201
    # A link followed from elsewhere still opens the page (GET, top-level navigation).
    link = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    assert client.get("/", headers=link).status_code == 200
    # All of these refusals are in the audit log.
    refused = [e for e in app.audit() if e["status"] == 403]
    assert len(refused) == 6 and {e["path"] for e in refused} == {"/v1/collections/docs/documents"}


def test_with_keys_the_guard_stands_aside(make_app: Callable[..., App], tmp_path: Path) -> None:
    _, token = Catalogue(tmp_path / "idx" / "catalogue.sqlite").create_key("ops", "admin", ["*"])
    app = make_app()
    elsewhere = {"host": "qa.example.org", "origin": "https://portal.example.org", **bearer(token)}
    assert app.client.get("/v1/collections", headers=elsewhere).status_code == 200
    assert app.client.get("/v1/collections", headers={"host": "qa.example.org"}).status_code == 401


def test_revoking_the_last_key_does_not_reopen_the_service(
    make_app: Callable[..., App], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalogue = Catalogue(tmp_path / "idx" / "catalogue.sqlite")
    key, token = catalogue.create_key("ops", "admin", ["*"])
    app = make_app()
    assert app.client.get("/v1/collections", headers=bearer(token)).status_code == 200
    assert catalogue.revoke_key(key.id) and not catalogue.has_active_keys()
    assert "needs an API key" in problem(app.client.get("/v1/collections"), 401)
    assert "revoked" in problem(app.client.get("/v1/collections", headers=bearer(token)), 401)
    assert "needs an API key" in problem(app.client.get("/metrics"), 401)
    restarted = make_app()
    assert "needs an API key" in problem(restarted.client.get("/v1/collections"), 401)
    # The OpenAI routes take SDKs' placeholder keys only while the service runs open.
    for headers in ({}, bearer("unused")):
        assert restarted.client.get("/v1/models", headers=headers).status_code == 401
    assert "refuses every request until one is created" in caplog.text


# ---------------------------------------------------------------- bad input: 4xx


def test_file_names_the_file_system_cannot_take_are_422(make_app: Callable[..., App]) -> None:
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    for name, detail in [
        ("a\x00b.txt", "control characters"),
        ("a\x1bb.txt", "control characters"),
        ("x" * 252 + ".txt", "at most 255 bytes"),
        ("é" * 126 + ".txt", "at most 255 bytes"),
    ]:
        body = (
            b'--B\r\nContent-Disposition: form-data; name="files"; filename="'
            + name.encode()
            + b'"\r\nContent-Type: text/plain\r\n\r\nhello world\r\n--B--\r\n'
        )
        response = app.client.post(
            "/v1/collections/docs/documents",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=B"},
        )
        assert detail in problem(response, 422), name
    assert spooled(app) == []
    longest = {"files": ("x" * 251 + ".txt", BOND.encode())}
    assert app.client.post("/v1/collections/docs/documents", files=longest).status_code == 202


def test_huge_offsets_and_filters_are_422(make_app: Callable[..., App]) -> None:
    app = make_app(max_body_bytes=4_000_000)
    client = app.client
    assert client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    upload(app, "docs", [{"id": "lease", "text": BOND, "metadata": {"year": 2024}}])
    for offset in ("1e20", str(10**20), str(2**63)):
        response = client.get(f"/v1/collections/docs/documents?offset={offset}")
        assert "offset" in problem(response, 422), offset
    last = client.get(f"/v1/collections/docs/documents?offset={2**63 - 1}")
    assert last.status_code == 200 and last.json()["documents"] == []
    for filters in (
        {"year": [2024] * 250_001},
        {"year": 10**20 + 1, "document": [1] * 1001},
        {f"k{n}": 1 for n in range(17)},
    ):
        for route, body in (("/v1/search", {"query": "bond"}), ("/v1/ask", {"question": "bond?"})):
            response = client.post(route, json={**body, "collection": "docs", "filters": filters})
            assert "filters" in problem(response, 422), (route, list(filters)[:2])
    big = client.post(
        "/v1/search", json={"query": "bond", "collection": "docs", "filters": {"year": 2**63}}
    )
    assert big.status_code in (200, 422), big.text
    fine = {"year": [2024, *range(999)], "document": "lease"}
    hits = client.post("/v1/search", json={"query": "bond", "collection": "docs", "filters": fine})
    assert [r["document"] for r in hits.json()["results"]] == ["lease"]


# ------------------------------------------------------------- what errors disclose


def test_server_errors_keep_paths_and_hosts_in_the_log(
    make_app: Callable[..., App], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    upload(app, "docs", [{"id": "lease", "text": BOND}])
    secret = "/srv/secret-index/docs/generation-7"

    def corrupt(*args: Any, **kwargs: Any) -> Any:
        raise IndexCorruptError(f"cannot open generation {secret}: truncated")

    app.state.runtime.collection = corrupt  # type: ignore[method-assign]
    response = app.client.get("/v1/collections/docs/documents")
    assert "secret" not in problem(response, 500) and "server log" in response.text
    assert secret in caplog.text
    app.state.load_error = "no model at /home/ops/.cache/qa/models/fast"
    assert ".cache" not in problem(app.client.get("/readyz"), 503)


def test_job_errors_name_files_not_server_paths(make_app: Callable[..., App]) -> None:
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    broken = {"files": ("report.docx", b"PK\x03\x04 not really a zip" * 50)}
    response = app.client.post("/v1/collections/docs/documents", files=broken)
    job = wait_job(app.client, response.json()["id"])
    (error,) = job["errors"]
    assert error.startswith("report.docx: not a readable DOCX file"), error
    assert str(app.settings.index_dir) not in error and ".spool" not in error

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection to server at db.internal.example:5432 failed")

    app.state.runtime.ingest = unreachable  # type: ignore[method-assign]
    response = app.client.post("/v1/collections/docs/documents", files={"files": ("a.txt", b"x")})
    job = wait_job(app.client, response.json()["id"])
    assert job["status"] == "failed" and "db.internal" not in json.dumps(job)
    assert job["errors"] == ["internal error; the server log has the details"]


def test_a_refused_job_leaves_no_spooled_upload(make_app: Callable[..., App]) -> None:
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201

    def down(*args: Any, **kwargs: Any) -> Any:
        raise CatalogueUnavailableError("cannot reach postgresql://db.internal.example/qa")

    app.state.catalogue.create_job = down  # type: ignore[method-assign]
    for kind in ("files", "records"):
        if kind == "files":
            response = app.client.post(
                "/v1/collections/docs/documents", files={"files": ("a.txt", BOND.encode())}
            )
        else:
            response = app.client.post(
                "/v1/collections/docs/documents", json={"records": [{"id": "a", "text": BOND}]}
            )
        assert "db.internal" not in problem(response, 503)
        assert spooled(app) == [], kind


# --------------------------------------------------------------- browser headers


def test_the_page_and_the_api_carry_the_browser_protections(
    make_app: Callable[..., App],
) -> None:
    app = make_app(max_body_bytes=1024)
    for response in (
        app.client.get("/"),
        app.client.get("/static/app.js"),
        app.client.get("/v1/collections"),
        app.client.get("/v1/nowhere"),
        app.client.post("/v1/search", content=b"x" * 2000),
    ):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", response.url
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    docs = app.client.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers
    assert docs.headers["x-content-type-options"] == "nosniff"


# ------------------------------------------------------------ the Python client


def test_ask_stream_keeps_unicode_line_separators_inside_the_text(
    make_app: Callable[..., App],
) -> None:
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    upload(app, "docs", [{"id": "lease", "text": BOND}])
    odd = "a\u2028b\u2029c\u0085d\x1ce\x0bf\x0cg\rh"
    app.state.pipeline = ScriptedPipeline([odd, "\n"], _answer(f"Four weeks {odd} [1]."))  # type: ignore[assignment]
    items = list(Client(http_client=app.client).ask_stream("How much is the bond?", "docs"))
    assert items[:2] == [odd, "\n"]
    final = items[2]
    assert isinstance(final, dict) and final["answer"] == f"Four weeks {odd} [1]."
    # On the wire each event is one line for every line splitter, not only httpx's.
    raw = app.client.post(
        "/v1/ask", json={"question": "How much is the bond?", "collection": "docs", "stream": True}
    ).text
    frames = [f for f in raw.split("\n\n") if f]
    assert all(len(frame.splitlines()) == 2 for frame in frames)
    assert json.loads(frames[0].splitlines()[1].removeprefix("data: "))["text"] == odd


# --------------------------------------------------------- skips under CI=true

SKIPPING = """
import pytest

def test_needs_a_server():
    pytest.skip("the server did not start")

@pytest.mark.skipif(True, reason="the data folder is absent")
def test_needs_data():
    pass

def test_runs():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    raise AssertionError
"""


def test_a_skip_fails_the_run_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_skipping=SKIPPING)
    pytester.makepyfile(
        test_browser='import pytest\npytest.skip("no chromium", allow_module_level=True)\n'
    )
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest("-p", "tests.conftest").assert_outcomes(passed=1, skipped=3, xfailed=1)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "tests.conftest", "test_skipping.py")
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*the server did not start*"])
    result = pytester.runpytest("-p", "tests.conftest", "test_browser.py")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped under CI=true*no chromium*"])


# ------------------------------------------------- blocking calls off the event loop


def _slowed(target: Any, name: str, seconds: float) -> None:
    original = getattr(target, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(*args, **kwargs)

    setattr(target, name, slow)


@pytest.mark.parametrize(
    ("path", "slowed"),
    [
        ("/v1/jobs/nope", lambda s: (s.catalogue, "job")),
        ("/v1/models", lambda s: (s.catalogue, "collection_names")),
        ("/v1/collections", lambda s: (s.catalogue, "collection_names")),
        ("/v1/collections/docs", lambda s: (s.catalogue, "collection_embedder")),
        ("/v1/collections/docs/documents", lambda s: (s.catalogue, "collection_embedder")),
        ("/readyz", lambda s: (s.runtime.store, "names")),
        ("/metrics", lambda s: (s.runtime.store, "names")),
    ],
)
def test_a_slow_database_does_not_stall_other_requests(
    make_app: Callable[..., App], path: str, slowed: Callable[[AppState], tuple[Any, str]]
) -> None:
    """The catalogue and the store are blocking calls: a route that made them on the
    event loop would hold every other request (/healthz included) while they ran."""
    app = make_app()
    assert app.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    app.state.ready.set()
    _slowed(*slowed(app.state), 1.5)
    slow = threading.Thread(target=lambda: app.client.get(path))
    slow.start()
    time.sleep(0.3)  # the slow request is inside its database call by now
    started = time.monotonic()
    assert app.client.get("/healthz").status_code == 200
    assert time.monotonic() - started < 0.8, f"{path} held the event loop"
    slow.join(10)
