"""Conversations kept by the server, under the same keys and scopes as collections:
catalogue calls only, so plain `def` routes (FastAPI runs them in its thread pool)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from qa.api import conversing
from qa.api.conversation_schemas import (
    ConversationBody,
    ConversationOut,
    ConversationsOut,
    ConversationSummaryOut,
    MessageOut,
)
from qa.api.deps import StateDep
from qa.api.security import KeyDep, authorize
from qa.catalogue import ALL_COLLECTIONS
from qa.records import check_name

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.post("", status_code=201, summary="Start a conversation over one collection.")
def create_conversation(
    body: ConversationBody, state: StateDep, key: KeyDep, response: Response
) -> ConversationOut:
    collection = check_name(body.collection)
    authorize(key, collection, "reader")
    state.has_documents(collection)
    conversation_id = state.catalogue.create_conversation(
        collection, key.id if key else None, limit=state.settings.conversations_per_key
    )
    response.headers["Location"] = f"/v1/conversations/{conversation_id}"
    return get_conversation(conversation_id, state, key)


@router.get("", summary="The caller's conversations (an admin key: all in its collections).")
def list_conversations(
    state: StateDep,
    key: KeyDep,
    collection: Annotated[str | None, Query(description="Only this collection's.")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationsOut:
    scope: list[str] | None = None
    if key is not None and ALL_COLLECTIONS not in key.collections:
        scope = list(key.collections)
    if collection is not None:
        authorize(key, collection, "reader")
        scope = [collection]
    owner = None if key is None or key.at_least("admin") else key.id
    found, total = state.catalogue.conversations(
        key_id=owner, collections=scope, offset=offset, limit=limit
    )
    return ConversationsOut(
        conversations=[ConversationSummaryOut.model_validate(c.to_dict()) for c in found],
        total=total,
        offset=offset,
        limit=limit,
    )


@router.get(
    "/{conversation_id}",
    summary="A conversation with its messages, oldest first.",
    response_model_exclude_unset=True,
)
def get_conversation(conversation_id: str, state: StateDep, key: KeyDep) -> ConversationOut:
    conversation = conversing.find(state, key, conversation_id)
    messages = state.catalogue.conversation_messages(conversation.id)
    return ConversationOut(
        **conversation.to_dict(),
        messages=[MessageOut.model_validate(m.to_dict()) for m in messages],
    )


@router.delete("/{conversation_id}", status_code=204, summary="Delete a conversation.")
def delete_conversation(conversation_id: str, state: StateDep, key: KeyDep) -> Response:
    conversing.find(state, key, conversation_id)
    state.catalogue.delete_conversation(conversation_id)
    return Response(status_code=204)
