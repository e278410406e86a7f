"""Server-side conversations as the routes use them: found within the caller's scope,
read back as the history of the next question, and a finished turn recorded.

A key sees the conversations it created; an admin key sees all of those in its
collections; the open service (no key yet) sees all. Any other conversation is
reported as missing (404), not forbidden: its id alone says nothing to another key.
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.api.security import authorize
from qa.api.state import AppState
from qa.catalogue import ApiKey, Conversation
from qa.errors import ConflictError, InvalidInputError, NotFoundError
from qa.records import Answer, Turn

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


def continued(
    state: AppState,
    key: ApiKey | None,
    conversation_id: str,
    collection: str | None,
    history: Sequence[Turn] | None,
) -> tuple[str, list[Turn]]:
    """The collection and history of a question that continues a stored conversation;
    blocking (the catalogue). `collection`: the one the request named, if it named one."""
    conversation = find(state, key, conversation_id)
    if history is not None:
        raise InvalidInputError(
            "send either history or conversation_id, not both: a stored conversation "
            "is its own history"
        )
    if collection is not None and collection != conversation.collection:
        raise ConflictError(
            f"conversation {conversation_id!r} is over collection "
            f"{conversation.collection!r}, not {collection!r}; leave collection out, or "
            "start a conversation over that collection"
        )
    return conversation.collection, recent(state, conversation)


def recent(state: AppState, conversation: Conversation) -> list[Turn]:
    """The newest stored turns that fit the limits on a question's history (a stored
    conversation may hold more), starting at a question; oldest first."""
    settings = state.settings
    kept: list[Turn] = []
    total = 0
    for message in reversed(state.catalogue.conversation_messages(conversation.id)):
        content = message.content[: settings.max_turn_chars]
        total += len(content)
        if len(kept) == settings.max_history_turns or total > settings.max_history_chars:
            break
        kept.append(Turn(message.role, content))
    if kept and kept[-1].role == "assistant":
        kept.pop()
    return kept[::-1]


def record(state: AppState, conversation_id: str, question: str, answer: Answer) -> None:
    """A finished turn: the question and the answer object as the client got it.
    Dropped without error if the conversation was deleted meanwhile."""
    sent = answer.to_dict()
    state.catalogue.append_turn(
        conversation_id,
        question,
        answer.answer,
        {k: v for k, v in sent.items() if k not in _NOT_KEPT},
        max_messages=state.settings.conversation_max_messages,
    )
