from __future__ import annotations

import json
from collections.abc import AsyncIterator, Generator

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from qa.api.deps import StateDep
from qa.api.schemas import AnswerOut, AskBody
from qa.errors import QAError
from qa.pipeline import Answer

router = APIRouter(prefix="/v1", tags=["ask"])

_DONE = object()


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/ask",
    summary="Answer a question from a collection, with citations.",
    response_model=AnswerOut,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def ask(body: AskBody, state: StateDep) -> AnswerOut | StreamingResponse:
    pipeline = state.pipeline
    if not body.stream:
        answer = await state.run_generation(
            lambda: pipeline.ask(body.question, body.collection, body.k, body.filters)
        )
        return AnswerOut.model_validate(answer.to_dict())

    items: Generator[str | Answer, None, None] = pipeline.stream(
        body.question, body.collection, body.k, body.filters
    )
    # Pull the first item before answering, so bad input still gets a problem response.
    first = await state.run_generation(lambda: next(items, _DONE))

    async def events() -> AsyncIterator[str]:
        item = first
        try:
            while item is not _DONE:
                if isinstance(item, Answer):
                    yield _sse("answer", item.to_dict())
                else:
                    yield _sse("token", {"text": item})
                item = await state.run_generation(lambda: next(items, _DONE))
        except QAError as exc:
            yield _sse("error", {"status": exc.status, "title": exc.title, "detail": exc.detail})
        finally:
            # A client that goes away closes this generator; closing the pipeline's
            # iterator trips the generator's stop flag and frees the CPU.
            await anyio.to_thread.run_sync(items.close)

    return StreamingResponse(events(), media_type="text/event-stream")
