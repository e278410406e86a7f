"""Server-side conversations as the routes use them: found within the caller's scope,
read back as the history of the next question, and a finished turn recorded.

A key sees the conversations it created; an admin key sees all of those in its
collections; the open service (no key yet) sees all. Any other conversation is
reported as missing (404), not forbidden: its id alone says nothing to another key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qa.api.security import authorize
from qa.api.state import AppState
from qa.catalogue import ApiKey, Conversation
from qa.errors import NotFoundError

# The answer object's fields that are not kept with an assistant turn: its text is the
# turn's content, and its timings describe one request, not the conversation.
_NOT_KEPT = ("answer", "timings")


def may_see(key: ApiKey | None, conversation: Conversation) -> bool:
    if key is None:
        return True
    if not key.allows(conversation.collection):
        return False
    return key.at_least("admin") or conversation.key_id == key.id


def find(state: AppState, key: ApiKey | None, conversation_id: str) -> Conversation:
    """The conversation, if this key may see it; blocking (the catalogue)."""
    conversation = state.catalogue.conversation(conversation_id)
    if conversation is None or not may_see(key, conversation):
        raise NotFoundError(f"conversation {conversation_id!r} does not exist")
    authorize(key, conversation.collection, "reader")
    return conversation


def history(state: AppState, conversation: Conversation) -> list[dict[str, str]]:
    """The stored turns, oldest first, as the `history` of a question."""
    return [
        {"role": m.role, "content": m.content}
        for m in state.catalogue.conversation_messages(conversation.id)
    ]


def record(state: AppState, conversation_id: str, question: str, answer: Mapping[str, Any]) -> None:
    """A finished turn: the question and the answer object (a dict, as sent to the
    client). Dropped without error if the conversation was deleted meanwhile."""
    fields = {k: v for k, v in answer.items() if k not in _NOT_KEPT}
    state.catalogue.append_turn(
        conversation_id,
        question,
        str(answer["answer"]),
        fields,
        max_messages=state.settings.conversation_max_messages,
    )
