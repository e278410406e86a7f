"""Bad input gets a precise problem+json and the right status: collection names,
unknown resources, body and upload limits, malformed uploads and records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.service import BOND, COLLECTION_ROUTES, UPLOAD, Service, files, problem, wait_job


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
        ([{"id": "a\nb", "text": "x"}], 422, "records.0.id: must not hold control characters"),
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


def test_the_upload_body_is_declared_in_the_openapi_document(service: Service) -> None:
    document = service.client.get("/openapi.json").json()
    body = document["paths"]["/v1/collections/{collection}/documents"]["post"]["requestBody"]
    assert set(body["content"]) == {"multipart/form-data", "application/json"}
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    records = document["components"]["schemas"][ref]
    assert (
        records["properties"]["records"]["items"]["$ref"].rsplit("/", 1)[-1]
        in (document["components"]["schemas"])
    )
