"""Bodies of the conversation routes (`/v1/conversations`), beside the answer's
citation shape they reuse."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.api.schemas import CitationOut


class ConversationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        description="The collection every question of the conversation is answered from.",
    )


class MessageOut(BaseModel):
    """A user turn has role, content and time; an assistant turn also the answer
    object's fields (its content is the answer's text)."""

    role: Literal["user", "assistant"]
    content: str
    created_at: str
    found: bool | None = None
    citations: list[CitationOut] | None = None
    confidence: float | None = None
    language: str | None = None
    standalone_question: str | None = Field(
        default=None, description="What was searched for this turn, given the history."
    )
    clarification: bool | None = Field(
        default=None, description="True when the answer is a question back to the user."
    )


class ConversationSummaryOut(BaseModel):
    id: str
    collection: str
    title: str | None = Field(description="The first question, cut to 80 characters.")
    created_at: str
    updated_at: str
    message_count: int


class ConversationOut(ConversationSummaryOut):
    messages: list[MessageOut] = Field(description="Oldest first.")


class ConversationsOut(BaseModel):
    conversations: list[ConversationSummaryOut] = Field(description="Latest spoken in first.")
    total: int
    offset: int
    limit: int
