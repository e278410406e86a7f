"""A streamed chat completion as OpenAI's server-sent events: `chat.completion.chunk`
objects, then `data: [DONE]`.

The response has started before the answer is known, so an error on the way cannot
become a problem response any more: it is sent as OpenAI's in-stream error object,
which its SDKs raise as APIError, rather than as a cut connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from qa.api.answering import AnswerStream
from qa.api.openai.chat import message_text
from qa.api.openai.errors import error_object
from qa.api.openai.schemas import UsageOut
from qa.api.sse import json_line
from qa.errors import QAError

log = logging.getLogger(__name__)


def _data(body: object) -> str:
    return f"data: {json_line(body)}\n\n"


def _error(status: int, title: str, detail: str) -> str:
    """OpenAI's in-stream error, which its SDKs raise as APIError(message)."""
    return _data({"error": error_object(status, title, detail)})


async def completion_events(
    stream: AnswerStream,
    completion_id: str,
    created: int,
    model: str,
    *,
    include_usage: bool,
    route: str,
) -> AsyncIterator[str]:
    """The generated draft as it comes, as `reasoning_content`; then the grounded answer
    with its sources (or the refusal) as `content`; then a last chunk that also holds the
    grounded `answer`, `found`, `citations`, `confidence`, `standalone_question` and
    `clarification`.

    The draft is unverified: sentences no passage supports are still in it. Chat clients
    keep the concatenated `content` as the assistant's turn and send it back as history,
    so only verified text may go there; clients that show reasoning (vLLM's and
    DeepSeek's field) still see the answer forming while it is generated."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _data(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
                **extra,
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for item in stream:
            if isinstance(item, str):
                yield chunk({"reasoning_content": item})
                continue
            yield chunk({"content": message_text(item)})
            as_dict = item.to_dict()
            yield chunk(
                {},
                "stop",
                answer=as_dict["answer"],
                found=as_dict["found"],
                citations=as_dict["citations"],
                confidence=as_dict["confidence"],
                standalone_question=item.standalone_question,
                clarification=item.clarification,
            )
            if include_usage:
                yield _data(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": UsageOut().model_dump(),
                    }
                )
    except QAError as exc:
        yield _error(exc.status, exc.title, exc.detail)
    except Exception:
        log.exception("unhandled error while streaming %s", route)
        yield _error(500, "Internal error", "an unexpected error occurred; see the server log")
    yield "data: [DONE]\n\n"
