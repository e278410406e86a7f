"""Settings of conversations kept by the server (`POST /v1/conversations`): how much
one caller may store. Part of the one `Settings` object."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class ConversationSettings(BaseSettings):
    conversation_max_messages: int = Field(
        default=200,
        ge=2,
        description="Messages kept per conversation (a question and its answer are two); "
        "past it the oldest turns are dropped, so a long conversation goes on: the "
        "answer only ever sees its last few turns.",
    )
    conversations_per_key: int = Field(
        default=1000,
        ge=1,
        description="Conversations one API key (or the open service) may hold; one more "
        "is refused with 409 rather than an old one deleted unasked.",
    )
