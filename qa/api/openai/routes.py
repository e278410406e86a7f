"""`POST /v1/chat/completions`, `GET /v1/models` and `GET /v1/models/{model}`.

A "model" is a collection. Answers go through the same queue, timeout, metrics and
audit as `/v1/ask` (qa.api.answering), and errors before an answer starts are the
same problem+json responses, whose status codes the OpenAI SDKs map to their
exceptions."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from qa.api.answering import AnswerStream, AnswerStreamResponse
from qa.api.deps import StateDep
from qa.api.openai.chat import history_of, message_text, question_of
from qa.api.openai.errors import OpenAIRoute
from qa.api.openai.schemas import (
    ChatCompletionBody,
    ChatCompletionOut,
    ChatMessageOut,
    ChoiceOut,
    ModelOut,
    ModelsOut,
    UsageOut,
)
from qa.api.openai.security import OpenAIKeyDep
from qa.api.openai.stream import completion_events
from qa.api.routes.collections import describe
from qa.api.schemas import CitationOut
from qa.api.security import authorize, visible
from qa.api.state import AppState
from qa.errors import InvalidInputError

ROUTE = "/v1/chat/completions"

router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat completion: the last user message asked of a collection, "
    "with the messages before it as its history.",
    description="`model` names the collection. The last user message is the question; the "
    "user and assistant messages before it are the conversation it may refer to (it is "
    "searched as a standalone question, returned as `standalone_question`); system "
    "messages are ignored, so no instruction overrides answering from the documents. "
    "The reply's content is the grounded answer "
    "followed by its numbered sources; `citations`, `found`, `confidence`, "
    "`standalone_question` and `clarification` are added at the top level. "
    "With `stream: true`, chunks carry the unverified draft as `reasoning_content` while it "
    "is generated, then the grounded answer and its sources as `content` (so a client's "
    "history holds only verified text); the last chunk also holds `answer` (the grounded "
    "text), `citations`, `found` and `confidence`. "
    "`usage` is always zeros: tokens are not counted.",
    response_model=ChatCompletionOut,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatCompletionBody, state: StateDep, key: OpenAIKeyDep
) -> ChatCompletionOut | StreamingResponse:
    collection = body.model
    authorize(key, collection, "reader")
    if body.n is not None and body.n != 1:
        raise InvalidInputError(f"n: only one choice per request is supported, not {body.n}")
    question = question_of(body.messages)
    stream = await AnswerStream.open(
        state,
        question,
        collection,
        k=None,
        filters=None,
        key=key,
        route=ROUTE,
        history=history_of(body.messages),
    )
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        answer = await stream.answer()
        return ChatCompletionOut(
            id=completion_id,
            created=created,
            model=collection,
            choices=[ChoiceOut(message=ChatMessageOut(content=message_text(answer)))],
            usage=UsageOut(),
            found=answer.found,
            citations=[CitationOut.model_validate(c) for c in answer.to_dict()["citations"]],
            confidence=answer.confidence,
            standalone_question=answer.standalone_question,
            clarification=answer.clarification,
        )
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    events = completion_events(
        stream, completion_id, created, collection, include_usage=include_usage, route=ROUTE
    )
    return AnswerStreamResponse(
        events, stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _created(state: AppState, name: str) -> int:
    stamp = describe(state, name).created_at
    if stamp is None:
        return 0
    try:
        return int(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return 0


@router.get("/models", summary="OpenAI-compatible list of the collections the key may read.")
def list_models(state: StateDep, key: OpenAIKeyDep) -> ModelsOut:
    names = visible(key, state.collection_names())
    return ModelsOut(data=[ModelOut(id=name, created=_created(state, name)) for name in names])


@router.get("/models/{model}", summary="One collection, as an OpenAI model object.")
def get_model(model: str, state: StateDep, key: OpenAIKeyDep) -> ModelOut:
    authorize(key, model, "reader")
    state.has_documents(model)
    return ModelOut(id=model, created=_created(state, model))
