"""Conversations in the catalogue, on SQLite and on a real PostgreSQL server (the
`location` fixture of test_catalogue): stored, listed by key and collection, bounded,
and removed with their collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.catalogue import Catalogue
from qa.catalogue.conversations import TITLE_CHARS
from qa.errors import ConflictError
from tests.catalogue.test_catalogue import location  # noqa: F401  (the fixture)

FOUND = {"found": True, "citations": [{"n": 1, "document": "a.md"}], "confidence": 0.8}


def test_a_conversation_keeps_its_turns_in_order(location: str | Path) -> None:  # noqa: F811
    catalogue = Catalogue(location)
    conversation_id = catalogue.create_conversation("legal", "key1", limit=10)
    assert len(conversation_id) >= 20
    assert conversation_id.replace("-", "").replace("_", "").isalnum()
    fresh = catalogue.conversation(conversation_id)
    assert fresh is not None and fresh.title is None and fresh.messages == 0
    assert (fresh.collection, fresh.key_id) == ("legal", "key1")

    long_question = "What is the notice period " + "for an inspection " * 10 + "?"
    assert catalogue.append_turn(
        conversation_id, long_question, "Two days [1].", FOUND, max_messages=50
    )
    assert catalogue.append_turn(
        conversation_id, "And for a repair?", "未找到。", {"found": False}, max_messages=50
    )
    # Another process (a second replica) reads the same conversation.
    other = Catalogue(location)
    messages = other.conversation_messages(conversation_id)
    assert [(m.role, m.content) for m in messages] == [
        ("user", long_question),
        ("assistant", "Two days [1]."),
        ("user", "And for a repair?"),
        ("assistant", "未找到。"),
    ]
    assert messages[0].answer is None and messages[1].answer == FOUND
    assert messages[1].to_dict()["citations"] == FOUND["citations"]
    assert messages[1].to_dict()["role"] == "assistant"
    stored = other.conversation(conversation_id)
    assert stored is not None and stored.messages == 4
    assert stored.title is not None and len(stored.title) == TITLE_CHARS
    assert stored.title.startswith("What is the notice period") and stored.title.endswith("…")


def test_oldest_turns_are_dropped_whole(location: str | Path) -> None:  # noqa: F811
    catalogue = Catalogue(location)
    conversation_id = catalogue.create_conversation("legal", None, limit=10)
    for n in range(4):
        catalogue.append_turn(conversation_id, f"q{n}", f"a{n}", {}, max_messages=5)
    # 5 rounds down to 4: two whole turns, never an answer without its question.
    contents = [m.content for m in catalogue.conversation_messages(conversation_id)]
    assert contents == ["q2", "a2", "q3", "a3"]
    stored = catalogue.conversation(conversation_id)
    assert stored is not None and stored.title == "q0" and stored.key_id is None


def test_listing_is_scoped_and_paged(location: str | Path) -> None:  # noqa: F811
    catalogue = Catalogue(location)
    mine = [catalogue.create_conversation("legal", "k1", limit=10) for _ in range(3)]
    theirs = catalogue.create_conversation("legal", "k2", limit=10)
    medical = catalogue.create_conversation("medical", "k1", limit=10)
    # The one spoken in last comes first.
    catalogue.append_turn(mine[0], "q", "a", {}, max_messages=10)
    page, total = catalogue.conversations(key_id="k1", collections=None, limit=2)
    assert total == 4 and page[0].id == mine[0] and len(page) == 2
    rest, _ = catalogue.conversations(key_id="k1", collections=None, offset=2, limit=10)
    assert {c.id for c in page + rest} == {*mine, medical}
    legal, total = catalogue.conversations(key_id=None, collections=["legal"])
    assert total == 4 and {c.id for c in legal} == {*mine, theirs}
    assert catalogue.conversations(key_id="k2", collections=["medical"]) == ([], 0)
    assert catalogue.conversations(key_id=None, collections=[]) == ([], 0)


def test_a_key_holds_a_bounded_number(location: str | Path) -> None:  # noqa: F811
    catalogue = Catalogue(location)
    for _ in range(2):
        catalogue.create_conversation("legal", "k1", limit=2)
    with pytest.raises(ConflictError, match="key 'k1' already holds 2 conversations"):
        catalogue.create_conversation("legal", "k1", limit=2)
    catalogue.create_conversation("legal", "k2", limit=2)  # another key's count is its own
    catalogue.create_conversation("legal", None, limit=1)
    with pytest.raises(ConflictError, match="the open service already holds 1"):
        catalogue.create_conversation("legal", None, limit=1)


def test_deleted_alone_or_with_their_collection(location: str | Path) -> None:  # noqa: F811
    catalogue = Catalogue(location)
    legal = [catalogue.create_conversation("legal", "k1", limit=10) for _ in range(2)]
    kept = catalogue.create_conversation("legal-2", "k1", limit=10)
    for conversation_id in (*legal, kept):
        catalogue.append_turn(conversation_id, "q", "a", FOUND, max_messages=10)

    assert catalogue.delete_conversation(legal[0]) and not catalogue.delete_conversation(legal[0])
    assert catalogue.conversation(legal[0]) is None
    assert catalogue.conversation_messages(legal[0]) == []
    # A turn finishing after its conversation was deleted is dropped, not orphaned.
    assert not catalogue.append_turn(legal[0], "late", "answer", {}, max_messages=10)
    assert catalogue.conversation_messages(legal[0]) == []

    assert catalogue.remove_conversations("legal") == 1
    assert catalogue.conversation(legal[1]) is None
    assert catalogue.conversation_messages(legal[1]) == []
    survivor = catalogue.conversation(kept)
    assert survivor is not None and survivor.messages == 2
