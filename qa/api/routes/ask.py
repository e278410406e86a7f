from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from qa.api.answering import AnswerStream, AnswerStreamResponse
from qa.api.deps import StateDep
from qa.api.schemas import AnswerOut, AskBody
from qa.api.security import KeyDep, authorize
from qa.errors import QAError

router = APIRouter(prefix="/v1", tags=["ask"])


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


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
                    yield _sse("token", {"text": item})
                else:
                    yield _sse("answer", item.to_dict())
        except QAError as exc:
            yield _sse("error", {"status": exc.status, "title": exc.title, "detail": exc.detail})

    return AnswerStreamResponse(events(), stream, media_type="text/event-stream")
