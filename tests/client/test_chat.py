"""qa.client's conversations against the service over real HTTP: `Client.chat` kept by
the client (history sent with each question) or by the server (conversation_id), and
the conversation routes.

The real pipeline runs over a hashing-embedder collection, with the generator of
tests/api/test_history.py that echoes the first passage it is given: what is checked
is what the client sends and keeps, and what the server made of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qa.api.app import create_app
from qa.client import Client, QAClientError
from qa.settings import Settings
from tests.api.test_history import FIRST, INSPECTION, REPAIR, Echo
from tests.api.test_openai import ThreadServer, build_collection
from tests.conftest import HashingEmbedder

FOLLOW_UP = "And for a repair?"
STANDALONE = "What is the notice period for a repair?"


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    index_dir = tmp_path_factory.mktemp("chat") / "idx"
    records = [{"id": "inspection", "text": INSPECTION}, {"id": "repair", "text": REPAIR}]
    build_collection(index_dir, "docs", records)
    app = create_app(Settings(index_dir=index_dir, audit=False), warm=False)
    with ThreadServer(app) as server:
        runtime = app.state.qa.runtime
        runtime.add_embedder(HashingEmbedder())
        runtime._generator = Echo()
        with Client(server.base, timeout=30) as client:
            yield client


def test_a_chat_kept_by_the_client(qa: Client) -> None:
    chat = qa.chat("docs")
    first = chat.ask(FIRST)
    assert [c["document"] for c in first["citations"]] == ["inspection"]
    items = list(chat.ask_stream(FOLLOW_UP))
    assert all(isinstance(i, str) for i in items[:-1]) and len(items) > 1
    second = items[-1]
    assert not isinstance(second, str)
    assert second["standalone_question"] == STANDALONE
    assert [c["document"] for c in second["citations"]] == ["repair"]
    assert chat.last == second and chat.conversation_id is None
    assert chat.history == [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": first["answer"]},
        {"role": "user", "content": FOLLOW_UP},
        {"role": "assistant", "content": second["answer"]},
    ]
    # A loop left before the answer adds no turn.
    for _ in chat.ask_stream("Does that apply to the tenant too?"):
        break
    assert len(chat.history) == 4
    chat.reset()
    assert chat.history == [] and chat.last is None
    assert "standalone_question" not in qa.ask(FIRST, "docs")  # no history, no rewrite
    assert qa.conversations()["total"] == 0  # the server kept nothing


def test_a_chat_kept_by_the_server(qa: Client) -> None:
    chat = qa.chat("docs", server=True)
    assert chat.conversation_id is not None
    chat.ask(FIRST)
    second = chat.ask(FOLLOW_UP)
    assert second["standalone_question"] == STANDALONE

    stored = qa.conversation(chat.conversation_id)
    assert stored["collection"] == "docs" and stored["title"] == FIRST
    assert [m["content"] for m in stored["messages"]] == [t["content"] for t in chat.history]
    assert stored["messages"][3].get("citations") == second["citations"]
    page = qa.conversations(collection="docs")
    assert page["total"] == 1 and page["conversations"][0]["message_count"] == 4

    # Resumed elsewhere: the history comes from the server, the collection too.
    resumed = qa.chat(conversation_id=chat.conversation_id)
    assert resumed.collection == "docs" and resumed.history == chat.history
    third = resumed.ask("Does that apply to the tenant too?")
    assert third["standalone_question"].startswith("Does the notice period for a repair")
    assert qa.conversation(chat.conversation_id)["message_count"] == 6

    old = chat.conversation_id
    chat.reset()
    assert chat.conversation_id not in (None, old) and chat.history == []
    qa.delete_conversation(old)
    with pytest.raises(QAClientError) as raised:
        qa.conversation(old)
    assert raised.value.status == 404
    with pytest.raises(QAClientError) as raised:
        qa.chat(conversation_id=old)
    assert raised.value.status == 404
    with pytest.raises(QAClientError) as raised:
        qa.chat("nowhere", server=True)
    assert raised.value.status == 404 and "'nowhere'" in raised.value.detail
