"""Conversations over HTTP: created, listed, read and deleted under the keys and
scopes of collections, bounded, declared in the OpenAPI document, deleted with their
collection; and `conversation_id` in /v1/ask: the stored turns are the history, and a
finished answer (streamed or not) is added to them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.api import conversing
from qa.api.app import create_app
from qa.errors import RequestTimeoutError
from qa.settings import Settings
from tests.api.service import Keys, Service, bearer, fake_answer, problem
from tests.api.test_history import FIRST, INSPECTION, REPAIR, Echo
from tests.api.test_openai import build_collection
from tests.conftest import HashingEmbedder

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
                      fake_answer())  # fmt: skip
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
        conversing.record(service.state, conversation_id, "bond?", fake_answer())

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


class Interrupted:
    """The real pipeline, but a question containing 'interrupt' fails after its first
    token, as a stream stopped at the deadline does."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def stream(self, query: Any, history: Any = None) -> Iterator[Any]:
        if "interrupt" in query.text:
            yield "Partly "
            raise RequestTimeoutError("no answer within 1 s; generation was stopped")
        yield from self.pipeline.stream(query, history)


@pytest.fixture
def answering(tmp_path: Path) -> Iterator[tuple[TestClient, Echo]]:
    """The real pipeline over a hashing-embedder collection 'docs', with a generator
    that echoes the first passage of its prompt (tests/api/test_history.py), at most
    two turns of history and four stored messages a conversation."""
    index_dir = tmp_path / "idx"
    records = [{"id": "inspection", "text": INSPECTION}, {"id": "repair", "text": REPAIR}]
    build_collection(index_dir, "docs", records)
    settings = Settings(
        index_dir=index_dir,
        audit=False,
        contextualiser="rule",
        max_history_turns=2,
        conversation_max_messages=4,
    )
    app = create_app(settings, warm=False)
    generator = Echo()
    with TestClient(app) as client:
        state = app.state.qa
        state.runtime.add_embedder(HashingEmbedder())
        state.runtime._generator = generator
        state.pipeline = Interrupted(state.pipeline)
        assert client.post("/v1/collections", json={"name": "other"}).status_code == 201
        yield client, generator


def _streamed(client: TestClient, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    with client.stream("POST", "/v1/ask", json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        text = "".join(response.iter_text())
    events = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_a_stored_conversation_is_the_history(answering: tuple[TestClient, Echo]) -> None:
    client, generator = answering
    conversation_id = client.post(ROUTE, json={"collection": "docs"}).json()["id"]
    # No collection named: the conversation's own.
    first = client.post("/v1/ask", json={"question": FIRST, "conversation_id": conversation_id})
    assert first.status_code == 200, first.text
    assert [c["document"] for c in first.json()["citations"]] == ["inspection"]

    events = _streamed(client, question="And for a repair?", conversation_id=conversation_id)
    assert events[0][0] == "token" and events[-1][0] == "answer"
    second = events[-1][1]
    assert second["standalone_question"] == "What is the notice period for a repair?"
    assert [c["document"] for c in second["citations"]] == ["repair"]
    assert f"User: {FIRST}" in generator.prompts[-1]

    messages = client.get(f"{ROUTE}/{conversation_id}").json()["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", FIRST),
        ("assistant", first.json()["answer"]),
        ("user", "And for a repair?"),
        ("assistant", second["answer"]),
    ]
    assert messages[3]["standalone_question"] == second["standalone_question"]
    assert messages[3]["citations"] == second["citations"] and messages[3]["found"] is True

    # A stream that fails before its answer adds nothing.
    events = _streamed(client, question="interrupt me", conversation_id=conversation_id)
    assert events[-1][0] == "error" and events[-1][1]["status"] == 504
    assert client.get(f"{ROUTE}/{conversation_id}").json()["message_count"] == 4

    # A third turn: the history sent is the last two stored turns (QA_MAX_HISTORY_TURNS
    # would refuse four), and the stored conversation keeps its newest four messages.
    third = client.post(
        "/v1/ask", json={"question": "Does that apply to the tenant too?",
                         "conversation_id": conversation_id, "collection": "docs"},
    )  # fmt: skip
    assert third.status_code == 200, third.text
    assert "User: And for a repair?" in generator.prompts[-1]
    assert f"User: {FIRST}" not in generator.prompts[-1]
    stored = client.get(f"{ROUTE}/{conversation_id}").json()["messages"]
    assert [m["content"] for m in stored[::2]] == [
        "And for a repair?",
        "Does that apply to the tenant too?",
    ]


def test_conversation_id_refusals(answering: tuple[TestClient, Echo]) -> None:
    client, _ = answering
    conversation_id = client.post(ROUTE, json={"collection": "docs"}).json()["id"]
    ask = {"question": FIRST, "conversation_id": conversation_id}
    body = problem(client.post("/v1/ask", json={**ask, "collection": "other"}), 409)
    assert body["detail"].startswith(
        f"conversation {conversation_id!r} is over collection 'docs', not 'other'"
    )
    history = [{"role": "user", "content": "Hello?"}]
    body = problem(client.post("/v1/ask", json={**ask, "history": history}), 422)
    assert "either history or conversation_id" in body["detail"]
    body = problem(client.post("/v1/ask", json={**ask, "conversation_id": "nope"}), 404)
    assert body["detail"] == "conversation 'nope' does not exist"
    assert client.get(f"{ROUTE}/{conversation_id}").json()["messages"] == []


def test_another_keys_conversation_is_not_found_by_ask(keyed: tuple[Service, Keys]) -> None:
    service, keys = keyed
    theirs = _create(service, bearer(keys.writer))
    ask = {"question": "bond?", "conversation_id": theirs}
    response = service.client.post("/v1/ask", json=ask, headers=bearer(keys.reader))
    assert problem(response, 404)["detail"] == f"conversation {theirs!r} does not exist"
