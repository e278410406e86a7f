"""Conversations kept by the server, so that a client may send only a conversation's id
with each question instead of its whole history (`POST /v1/ask {"conversation_id"}`).

A conversation belongs to one collection and to the key that created it ('' when the
service ran open). It is bounded twice: a conversation keeps its newest
`max_messages` messages (older turns are dropped, the conversation goes on: an answer
only ever reads its last few turns), and a key holds at most `limit` conversations
(one more is refused with 409: deleting someone's conversation unasked would lose it).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qa.catalogue.tables import Tables, now
from qa.errors import ConflictError

MessageRole = Literal["user", "assistant"]

TITLE_CHARS = 80
"""A title is the first question, cut to fit a list of conversations on one line."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    key_id TEXT NOT NULL,
    title TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    touched BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_key ON conversations(key_id, touched);
CREATE INDEX IF NOT EXISTS conversations_by_collection ON conversations(collection);
CREATE TABLE IF NOT EXISTS conversation_messages (
    conversation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    answer TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);"""


@dataclass(frozen=True)
class Message:
    role: MessageRole
    content: str
    created_at: str
    answer: dict[str, Any] | None = None
    """An assistant turn's answer object less its text and timings: citations, found,
    confidence and whatever else the answer carried (standalone_question, ...)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            **(self.answer or {}),
            "role": self.role,
            "content": self.content,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Conversation:
    id: str
    collection: str
    key_id: str | None
    """The key that created it; None when the service ran open."""
    title: str | None
    created_at: str
    updated_at: str
    messages: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collection": self.collection,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "message_count": self.messages,
        }


_SELECT = (
    "SELECT c.*, (SELECT COUNT(*) FROM conversation_messages m "
    "WHERE m.conversation_id = c.id) AS message_count FROM conversations c"
)


def _conversation(row: Mapping[str, Any]) -> Conversation:
    return Conversation(
        id=row["id"],
        collection=row["collection"],
        key_id=row["key_id"] or None,
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        messages=int(row["message_count"]),
    )


def _message(row: Mapping[str, Any]) -> Message:
    answer = json.loads(row["answer"]) if row["answer"] is not None else None
    return Message(row["role"], row["content"], row["created_at"], answer)


def title_of(question: str) -> str:
    words = " ".join(question.split())
    return words if len(words) <= TITLE_CHARS else words[: TITLE_CHARS - 1].rstrip() + "…"


class ConversationTable(Tables):
    def create_conversation(self, collection: str, key_id: str | None, *, limit: int) -> str:
        """The new conversation's id: 128 random bits, URL-safe. The count and the insert
        are one statement, so a burst of creations cannot pass the limit on SQLite (on
        PostgreSQL, concurrent ones may pass it by a few)."""
        conversation_id = secrets.token_urlsafe(16)
        stamp = now()
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO conversations (id, collection, key_id, created_at, updated_at, "
                "touched) SELECT ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM conversations "
                "WHERE key_id = ?) < ?",
                (conversation_id, collection, key_id or "", stamp, stamp, time.time_ns(),
                 key_id or "", limit),
            )  # fmt: skip
        if cursor.rowcount == 0:
            holder = f"key {key_id!r}" if key_id else "the open service"
            raise ConflictError(
                f"{holder} already holds {limit} conversations, the limit "
                "(QA_CONVERSATIONS_PER_KEY); delete some with DELETE /v1/conversations/{id}"
            )
        return conversation_id

    def conversation(self, conversation_id: str) -> Conversation | None:
        with self._db() as db:
            row = db.execute(f"{_SELECT} WHERE c.id = ?", (conversation_id,)).fetchone()
        return _conversation(row) if row else None

    def conversation_messages(self, conversation_id: str) -> list[Message]:
        """Oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM conversation_messages WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [_message(r) for r in rows]

    def conversations(
        self,
        *,
        key_id: str | None,
        collections: Sequence[str] | None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[Conversation], int]:
        """The page of conversations most recently added to first, and how many there are
        in all. key_id: only that key's (None: anyone's; '' those created while the
        service ran open); collections: only in those (None: in any)."""
        where, params = ["1 = 1"], []
        if key_id is not None:
            where.append("c.key_id = ?")
            params.append(key_id)
        if collections is not None:
            if not collections:
                return [], 0
            where.append(f"c.collection IN ({', '.join('?' * len(collections))})")
            params.extend(collections)
        clause = " AND ".join(where)
        with self._db() as db:
            total = db.execute(
                f"SELECT COUNT(*) AS n FROM conversations c WHERE {clause}", params
            ).fetchone()["n"]
            rows = db.execute(
                f"{_SELECT} WHERE {clause} ORDER BY c.touched DESC, c.id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return [_conversation(r) for r in rows], int(total)

    def append_turn(
        self,
        conversation_id: str,
        question: str,
        answer: str,
        fields: Mapping[str, Any],
        *,
        max_messages: int,
    ) -> bool:
        """A question and its answer, added in one statement (never one without the
        other); then the oldest turns past `max_messages` are dropped, whole turns only.
        False when the conversation was deleted while its answer was being written."""
        seq = time.time_ns()
        stamp = now()
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO conversation_messages (conversation_id, seq, role, content, "
                "answer, created_at) SELECT * FROM (VALUES (?, ?, 'user', ?, NULL, ?), "
                "(?, ?, 'assistant', ?, ?, ?)) AS v "
                "WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?)",
                (conversation_id, seq, question, stamp,
                 conversation_id, seq + 1, answer, json.dumps(dict(fields), ensure_ascii=False),
                 stamp, conversation_id),
            )  # fmt: skip
            if cursor.rowcount == 0:
                return False
            db.execute(
                "UPDATE conversations SET updated_at = ?, touched = ?, "
                "title = COALESCE(title, ?) WHERE id = ?",
                (stamp, time.time_ns(), title_of(question), conversation_id),
            )
            keep = max_messages - max_messages % 2
            db.execute(
                "DELETE FROM conversation_messages WHERE conversation_id = ? AND seq < ("
                "SELECT seq FROM conversation_messages WHERE conversation_id = ? "
                "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (conversation_id, conversation_id, keep - 1),
            )
        return True

    def delete_conversation(self, conversation_id: str) -> bool:
        """The row first, then its messages: a turn being appended meanwhile either
        lands before (and goes with them) or finds no conversation and is dropped."""
        with self._db() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            db.execute(
                "DELETE FROM conversation_messages WHERE conversation_id = ?", (conversation_id,)
            )
        return cursor.rowcount > 0

    def remove_conversations(self, collection: str) -> int:
        """Every conversation of a deleted collection, with its messages; and any message
        left without its conversation (a process that stopped between the two deletes)."""
        with self._db() as db:
            cursor = db.execute("DELETE FROM conversations WHERE collection = ?", (collection,))
            db.execute(
                "DELETE FROM conversation_messages WHERE NOT EXISTS (SELECT 1 FROM "
                "conversations c WHERE c.id = conversation_messages.conversation_id)"
            )
        return int(cursor.rowcount)
