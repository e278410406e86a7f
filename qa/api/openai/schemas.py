"""The bodies and replies of the OpenAI-compatible endpoints, as OpenAI defines them,
plus the `found` and `citations` members that carry what /v1/ask returns.

Unknown fields are allowed in every body: SDKs and chat front ends send fields of
their own (and OpenAI adds new ones), and refusing them would break those clients."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.api.schemas import CitationOut


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
        min_length=1,
        description="The conversation: the last `user` message is asked, the `user` and "
        "`assistant` messages before it are its history; `system` messages are ignored.",
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


# Always all zeros, and not a measurement: the prompt is assembled inside the pipeline
# and the generator streams words rather than tokens, so there is nothing honest to
# count. The member is there because OpenAI clients expect it.
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
    confidence: float | None = Field(
        default=None, description="The answer's confidence in [0, 1], as in /v1/ask."
    )
    standalone_question: str | None = Field(
        default=None,
        description="What was searched: the last user message made standalone with the "
        "messages before it.",
    )
    clarification: bool = Field(
        default=False,
        description="True when the reply is a question back: the last user message names "
        "nothing to search for, even with the messages before it.",
    )


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "qa"


class ModelsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
