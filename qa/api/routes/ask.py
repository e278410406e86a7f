from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from qa.api.answering import AnswerStream, AnswerStreamResponse
from qa.api.deps import StateDep
from qa.api.schemas import AnswerOut, AskBody
from qa.api.security import KeyDep, authorize
from qa.api.sse import event
from qa.errors import QAError

router = APIRouter(prefix="/v1", tags=["ask"])


@router.post(
    "/ask",
    summary="Answer a question from a collection, with citations.",
    response_model=AnswerOut,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def ask(body: AskBody, state: StateDep, key: KeyDep) -> AnswerOut | StreamingResponse:
    authorize(key, body.collection, "reader")
    stream = await AnswerStream.open(
        state,
        body.question,
        body.collection,
        body.k,
        body.filters,
        key=key,
        route="/v1/ask",
    )
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
