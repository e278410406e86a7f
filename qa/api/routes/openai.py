"""OpenAI-compatible endpoints, so chat clients and SDKs that speak OpenAI's API can ask
the documents: `POST /v1/chat/completions` and `GET /v1/models`.

A "model" is a collection. Only the last user message is asked: the answer must come
from the documents, so system prompts and earlier turns, which could steer it away
from them, are not used. Answers go through the same queue, timeout, metrics and audit
as `/v1/ask` (qa.api.answering), and errors before an answer starts are the same
problem+json responses, whose status codes the OpenAI SDKs map to their exceptions.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from qa.api.answering import AnswerStream, AnswerStreamResponse
from qa.api.deps import StateDep
from qa.api.routes.collections import describe
from qa.api.schemas import CitationOut
from qa.api.security import authorize, current_key, visible
from qa.api.state import AppState
from qa.catalogue import ApiKey
from qa.errors import InvalidInputError, QAError, UnauthorizedError
from qa.records import Answer, Citation
from qa.retrieval.context import validate_query

log = logging.getLogger(__name__)

ROUTE = "/v1/chat/completions"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    503: "server_error",
    504: "timeout_error",
}


def error_object(status: int, title: str, detail: str) -> dict[str, Any]:
    """OpenAI's error object. Its SDKs put only `message` into the text of the exceptions
    they raise, so without it a client would read "Error code: 404" and nothing more."""
    return {
        "message": detail,
        "type": _ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        ),
        "param": None,
        "code": title.lower().replace(" ", "_"),
        "status": status,
    }


async def _with_error_object(request: Request, exc: Exception) -> Response:
    """The app's own problem+json response for `exc`, plus an OpenAI `error` member (a
    problem document may carry extension members): one mapping, readable by both kinds
    of client."""
    handlers: dict[Any, Any] = request.app.exception_handlers
    handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
    if handler is None:
        raise exc
    response = handler(request, exc)
    if inspect.isawaitable(response):
        response = await response
    if not isinstance(response, JSONResponse):
        return response
    body = json.loads(bytes(response.body))
    if not isinstance(body, dict) or "detail" not in body:
        return response
    body["error"] = error_object(response.status_code, str(body.get("title")), str(body["detail"]))
    keep = {"retry-after", "www-authenticate"}
    headers = {k: v for k, v in response.headers.items() if k.lower() in keep}
    if response.status_code == 504:
        # OpenAI SDKs retry any 5xx twice by default; a question that already used the
        # whole request timeout would only use it again. (503 Busy is worth retrying.)
        headers["x-should-retry"] = "false"
    return JSONResponse(
        body, status_code=response.status_code, media_type=response.media_type, headers=headers
    )


class OpenAIRoute(APIRoute):
    """Errors raised while a request is handled (the key check, the body's validation,
    the route itself) get the OpenAI error member; the stream's own errors are sent
    in it (see chat_completions)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except (QAError, RequestValidationError, HTTPException) as exc:
                return await _with_error_object(request, exc)

        return route


router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


def openai_key(request: Request, state: StateDep) -> ApiKey | None:
    """The caller's key, as for every /v1 route, except on a service running open (no
    key exists): there a bearer token that is not a qa key is ignored, because OpenAI
    SDKs send one whatever happens (`api_key="unused"`) and cannot be told not to. A qa
    key (`qa_...`) is still checked, so a revoked one is refused as elsewhere."""
    try:
        return current_key(request, state)
    except UnauthorizedError:
        running_open = state.open_allowed and not state.catalogue.has_active_keys()
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if running_open and not token.startswith("qa_"):
            return None
        raise


OpenAIKeyDep = Annotated[ApiKey | None, Depends(openai_key)]


# Bodies. Unknown fields are allowed throughout: SDKs and chat front ends send fields
# of their own (and OpenAI adds new ones), and refusing them would break those clients.


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="The collection to answer from.")
    messages: list[ChatMessageIn] = Field(
        min_length=1, description="Only the last `user` message is asked; the rest is ignored."
    )
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(default=None, description="Only 1 is supported.")
    # Accepted so that clients which always send them work; the answer is generated
    # greedily within the server's own token budget, so they change nothing.
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    user: str | None = None


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChoiceOut(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class UsageOut(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    found: bool = Field(description="False when the documents do not hold the answer.")
    citations: list[CitationOut] = Field(
        description="The passages behind the answer's [n] markers, as in /v1/ask."
    )


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "qa"


class ModelsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


# The question.


def question_of(messages: list[ChatMessageIn]) -> str:
    """The text of the last user message; 422 naming the message when there is none."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "user":
            continue
        content = message.content
        if content is None:
            text = ""
        elif isinstance(content, str):
            text = content
        else:
            texts: list[str] = []
            for part_index, part in enumerate(content):
                if part.type != "text":
                    raise InvalidInputError(
                        f"messages.{index}.content.{part_index}: only text parts can be asked "
                        f"about, not {part.type!r}"
                    )
                texts.append(part.text or "")
            text = "\n".join(t for t in texts if t.strip())
        if not text.strip():
            raise InvalidInputError(
                f"messages.{index}.content: the last user message is empty; it holds the question"
            )
        return text
    raise InvalidInputError(
        "messages: no message has role 'user'; the question is the last user message"
    )


# What the client sees.


def sources_text(citations: list[Citation]) -> str:
    """Numbered sources for plain chat clients, which show only the message content."""
    lines = []
    for c in citations:
        where = c.document if c.page is None else f"{c.document}, page {c.page}"
        lines.append(f"[{c.n}] {where}: “{c.quote}”")
    return "\n".join(lines)


def message_text(answer: Answer) -> str:
    sources = sources_text(answer.citations)
    return f"{answer.answer}\n\n{sources}" if sources else answer.answer


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage() -> UsageOut:
    """All zeros, and not a measurement: the prompt is assembled inside the pipeline and
    the generator streams words rather than tokens, so there is nothing honest to count.
    The field is there because OpenAI clients expect it."""
    return UsageOut()


def _chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    **extra: Any,
) -> str:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        **extra,
    }
    return _data(body)


def _data(body: object) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _error(status: int, title: str, detail: str) -> str:
    """OpenAI's in-stream error, which its SDKs raise as APIError(message)."""
    return _data({"error": error_object(status, title, detail)})


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat completion: the last user message asked of a collection.",
    description="`model` names the collection. The reply's content is the grounded answer "
    "followed by its numbered sources; `citations` and `found` are added at the top level. "
    "With `stream: true`, chunks carry the generated text as it comes, then the sources; "
    "the last chunk also holds `answer` (the grounded text, which can differ from the "
    "draft: unsupported sentences dropped, [n] markers added), `citations` and `found`. "
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
    # As /v1/ask: bad input and an unknown collection are answered before queueing.
    validate_query(question, state.settings.max_question_chars, "question")
    state.has_documents(collection)
    stream = await AnswerStream.open(
        state, question, collection, k=None, filters=None, key=key, route=ROUTE
    )
    completion_id, created = _completion_id(), int(time.time())
    if not body.stream:
        answer = await stream.answer()
        return ChatCompletionOut(
            id=completion_id,
            created=created,
            model=collection,
            choices=[ChoiceOut(message=ChatMessageOut(content=message_text(answer)))],
            usage=_usage(),
            found=answer.found,
            citations=[CitationOut.model_validate(c) for c in answer.to_dict()["citations"]],
        )
    include_usage = body.stream_options is not None and body.stream_options.include_usage

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return _chunk(completion_id, created, collection, delta, finish, **extra)

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            drafted = False
            async for item in stream:
                if isinstance(item, str):
                    drafted = True
                    yield chunk({"content": item})
                    continue
                closing = _closing_text(item, drafted)
                if closing:
                    yield chunk({"content": closing})
                as_dict = item.to_dict()
                yield chunk(
                    {},
                    "stop",
                    answer=as_dict["answer"],
                    found=as_dict["found"],
                    citations=as_dict["citations"],
                )
                if include_usage:
                    yield _data(
                        {
                            "id": completion_id,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": collection,
                            "choices": [],
                            "usage": _usage().model_dump(),
                        }
                    )
        except QAError as exc:
            yield _error(exc.status, exc.title, exc.detail)
        except Exception:
            # The response has started: the problem handler can no longer answer, so
            # the client hears about it in the stream rather than from a cut connection.
            log.exception("unhandled error while streaming %s", ROUTE)
            yield _error(500, "Internal error", "an unexpected error occurred; see the server log")
        yield "data: [DONE]\n\n"

    return AnswerStreamResponse(
        events(), stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _closing_text(answer: Answer, drafted: bool) -> str:
    """What follows the streamed draft. Found: its sources. Not found: the refusal, so
    that a draft the documents did not support is not left standing as the answer."""
    if not answer.found:
        return f"\n\n{answer.answer}" if drafted else answer.answer
    sources = sources_text(answer.citations)
    if not drafted:
        return message_text(answer)
    return f"\n\n{sources}" if sources else ""


# Models.


def _created(state: AppState, name: str) -> int:
    stamp = describe(state, name).created_at
    if stamp is None:
        return 0
    try:
        return int(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return 0


@router.get("/models", summary="OpenAI-compatible list of the collections the key may read.")
async def list_models(state: StateDep, key: OpenAIKeyDep) -> ModelsOut:
    names = visible(key, state.collection_names())
    return ModelsOut(data=[ModelOut(id=name, created=_created(state, name)) for name in names])


@router.get("/models/{model}", summary="One collection, as an OpenAI model object.")
async def get_model(model: str, state: StateDep, key: OpenAIKeyDep) -> ModelOut:
    authorize(key, model, "reader")
    state.has_documents(model)
    return ModelOut(id=model, created=_created(state, model))
