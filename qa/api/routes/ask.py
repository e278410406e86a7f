from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from qa.api import conversing
from qa.api.answering import AnswerStream, AnswerStreamResponse
from qa.api.deps import StateDep
from qa.api.schemas import AnswerOut, AskBody, TurnIn
from qa.api.security import KeyDep, authorize
from qa.api.sse import event
from qa.errors import QAError
from qa.records import Turn

router = APIRouter(prefix="/v1", tags=["ask"])


@router.post(
    "/ask",
    summary="Answer a question from a collection, with citations.",
    description="With `history` (the turns before the question), a follow-up is searched "
    "as a standalone question, returned as `standalone_question`; a question that names "
    "nothing to search for even then gets a short question back (`clarification: true`).",
    response_model=AnswerOut,
    # `standalone_question` and `clarification` only when a history was sent.
    response_model_exclude_unset=True,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def ask(body: AskBody, state: StateDep, key: KeyDep) -> AnswerOut | StreamingResponse:
    collection, history = body.collection, history_turns(body.history)
    if body.conversation_id is not None:
        named = collection if "collection" in body.model_fields_set else None
        collection, history = await anyio.to_thread.run_sync(
            conversing.continued, state, key, body.conversation_id, named, history
        )
    authorize(key, collection, "reader")
    stream = await AnswerStream.open(
        state,
        body.question,
        collection,
        body.k,
        body.filters,
        key=key,
        route="/v1/ask",
        history=history,
    )
    if body.conversation_id is not None:
        stream.on_answer(partial(conversing.record, state, body.conversation_id, body.question))
    if not body.stream:
        answer = await stream.answer()
        return AnswerOut.model_validate(answer.to_dict())

    async def events() -> AsyncIterator[str]:
        try:
            async for item in stream:
                if isinstance(item, str):
                    yield event("token", {"text": item})
                else:
                    yield event("answer", item.to_dict())
        except QAError as exc:
            yield event("error", {"status": exc.status, "title": exc.title, "detail": exc.detail})

    return AnswerStreamResponse(events(), stream, media_type="text/event-stream")


def history_turns(history: list[TurnIn] | None) -> list[Turn] | None:
    """The body's history as the pipeline's turns; None when the client sent none."""
    return None if history is None else [Turn(t.role, t.content) for t in history]
