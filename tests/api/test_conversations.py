"""Conversations over HTTP: created, listed, read and deleted under the keys and
scopes of collections, bounded, declared in the OpenAPI document, and deleted with
their collection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qa.api import conversing
from tests.api.service import Keys, Service, bearer, fake_answer, problem

ROUTE = "/v1/conversations"


def _create(service: Service, headers: dict[str, str] | None = None, **body: Any) -> str:
    response = service.client.post(ROUTE, json=body or {"collection": "docs"}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{ROUTE}/{created['id']}"
    return str(created["id"])


def _ids(service: Service, headers: dict[str, str] | None = None, **params: Any) -> list[str]:
    response = service.client.get(ROUTE, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["conversations"]]


def test_create_read_list_delete(service: Service) -> None:
    conversation_id = _create(service)
    created = service.client.get(f"{ROUTE}/{conversation_id}").json()
    assert created["collection"] == "docs" and created["messages"] == []
    assert created["title"] is None and created["message_count"] == 0

    conversing.record(service.state, conversation_id, "How much is the bond?",
                      fake_answer().to_dict())  # fmt: skip
    read = service.client.get(f"{ROUTE}/{conversation_id}").json()
    question, answer = read["messages"]
    assert question == {"role": "user", "content": "How much is the bond?",
                        "created_at": question["created_at"]}  # fmt: skip
    assert answer["role"] == "assistant" and answer["content"] == "Four weeks of rent [1]."
    assert answer["found"] is True and answer["citations"][0]["document"] == "a"
    assert "timings" not in answer and read["title"] == "How much is the bond?"

    listed = service.client.get(ROUTE).json()
    assert listed["total"] == 1 and listed["conversations"][0]["message_count"] == 2
    assert "messages" not in listed["conversations"][0]

    assert service.client.delete(f"{ROUTE}/{conversation_id}").status_code == 204
    body = problem(service.client.get(f"{ROUTE}/{conversation_id}"), 404)
    assert body["detail"] == f"conversation {conversation_id!r} does not exist"
    problem(service.client.delete(f"{ROUTE}/{conversation_id}"), 404)
    assert _ids(service) == []


def test_bad_requests(service: Service) -> None:
    body = problem(service.client.post(ROUTE, json={"collection": "nowhere"}), 404)
    assert "collection 'nowhere' does not exist" in body["detail"]
    problem(service.client.post(ROUTE, json={"collection": "docs", "title": "x"}), 422)
    problem(service.client.post(ROUTE, json={"collection": "../etc"}), 422)
    problem(service.client.get(ROUTE, params={"limit": 0}), 422)
    problem(service.client.get(f"{ROUTE}/no-such-id"), 404)


def test_a_key_holds_a_bounded_number(make_service: Callable[..., Service]) -> None:
    service = make_service(conversations_per_key=2)
    assert service.client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    first = _create(service)
    _create(service)
    body = problem(service.client.post(ROUTE, json={"collection": "docs"}), 409)
    assert "already holds 2 conversations" in body["detail"]
    assert service.client.delete(f"{ROUTE}/{first}").status_code == 204
    _create(service)


def test_scopes(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    reader, writer, admin, other = (
        bearer(keys.reader), bearer(keys.writer), bearer(keys.admin), bearer(keys.other)
    )  # fmt: skip
    assert service.client.post("/v1/collections", json={"name": "other"}, headers=admin)
    mine = _create(service, reader)
    theirs = _create(service, writer)
    elsewhere = _create(service, other, collection="other")

    # A key sees its own; another key's is missing to it, not forbidden.
    assert _ids(service, reader) == [mine]
    assert service.client.get(f"{ROUTE}/{mine}", headers=reader).status_code == 200
    for method in ("GET", "DELETE"):
        response = service.client.request(method, f"{ROUTE}/{theirs}", headers=reader)
        problem(response, 404)
        problem(service.client.request(method, f"{ROUTE}/{mine}", headers=other), 404)
    # An admin sees every conversation in its collections, and may delete any.
    assert set(_ids(service, admin)) == {mine, theirs, elsewhere}
    assert set(_ids(service, admin, collection="docs")) == {mine, theirs}
    assert _ids(service, other) == [elsewhere]
    assert service.client.get(f"{ROUTE}/{mine}", headers=admin).status_code == 200
    # A collection outside the key's scope: 403 to start or list one there.
    problem(service.client.post(ROUTE, json={"collection": "other"}, headers=reader), 403)
    problem(service.client.get(ROUTE, params={"collection": "other"}, headers=reader), 403)
    # No key, or a revoked one: 401.
    problem(service.client.get(ROUTE), 401)
    problem(service.client.post(ROUTE, json={}, headers=bearer(keys.revoked)), 401)

    assert service.client.delete(f"{ROUTE}/{theirs}", headers=admin).status_code == 204
    assert service.client.delete(f"{ROUTE}/{mine}", headers=reader).status_code == 204
    assert set(_ids(service, admin)) == {elsewhere}


def test_deleted_with_their_collection(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    admin = bearer(keys.admin)
    assert service.client.post("/v1/collections", json={"name": "kept"}, headers=admin)
    doomed = _create(service, bearer(keys.reader))
    kept = _create(service, admin, collection="kept")
    for conversation_id in (doomed, kept):
        conversing.record(service.state, conversation_id, "bond?", fake_answer().to_dict())

    assert service.client.delete("/v1/collections/docs", headers=admin).status_code == 204
    problem(service.client.get(f"{ROUTE}/{doomed}", headers=admin), 404)
    assert service.catalogue.conversation_messages(doomed) == []
    # A collection of the same name made afresh starts with no conversation.
    assert service.client.post("/v1/collections", json={"name": "docs"}, headers=admin)
    assert _ids(service, admin) == [kept]
    assert len(service.catalogue.conversation_messages(kept)) == 2


def test_declared_in_openapi(service: Service) -> None:
    document = service.client.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths[ROUTE]) == {"get", "post"}
    assert set(paths[f"{ROUTE}/{{conversation_id}}"]) == {"get", "delete"}
    created = paths[ROUTE]["post"]["responses"]
    assert created["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConversationOut"
    }
    assert "application/problem+json" in created["409"]["content"]
    message = document["components"]["schemas"]["MessageOut"]["properties"]
    assert {"role", "content", "citations", "found", "standalone_question"} <= set(message)
