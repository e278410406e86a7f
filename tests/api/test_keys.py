"""API keys, roles and scopes over HTTP and the CLI: every /v1 route needs a valid key
once keys exist, only a hash of each key is stored, and `qa serve` refuses a public
bind without one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qa.catalogue import Catalogue
from tests.api.service import (
    BOND,
    COLLECTION_ROUTES,
    V1_ROUTES,
    Keys,
    Service,
    bearer,
    problem,
    qa_cli,
    wait_job,
)


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
