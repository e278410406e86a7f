"""Settings of questions asked with a history (a follow-up in a conversation): how the
follow-up becomes a standalone search query, how much of the history the generator
sees, and the bounds a history sent to the API is held to. Part of the one `Settings`
object."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class HistorySettings(BaseSettings):
    contextualiser: Literal["rule", "rewrite", "concat", "none"] = Field(
        default="rule",
        description="How a follow-up becomes a standalone search query: 'rule' resolves "
        "pronouns and ellipsis to the previous question's subject and carries its key "
        "terms; 'rewrite' asks the generator (falling back to 'rule'); 'concat' searches "
        "the recent user turns joined; 'none' searches the last question alone. Chosen on "
        "MTRAG-UN dev conversations (docs/EVALUATION.md, Conversations).",
    )
    contextualiser_turns: int = Field(
        default=2,
        ge=1,
        le=20,
        description="Earlier user turns the contextualiser looks at ('concat' joins them; "
        "'rewrite' shows them with the answers between).",
    )
    rewrite_tokens: int = Field(
        default=40,
        ge=8,
        le=200,
        description="Most new tokens of a generator rewrite; a longer one falls back to 'rule'.",
    )
    history_turns: int = Field(
        default=4,
        ge=0,
        le=50,
        description="Last turns of the history the generator sees with the passages.",
    )
    history_tokens: int = Field(
        default=256,
        ge=0,
        le=4096,
        description="Prompt budget for those turns; the oldest are left out first.",
    )
    history_answer_chars: int = Field(
        default=300,
        ge=0,
        description="An assistant turn is cut to this many characters (at a sentence end "
        "when one is near) before it enters the prompt; its sources are left out.",
    )
    max_history_turns: int = Field(
        default=100,
        ge=0,
        description="Most turns a question's history may hold (422 above).",
    )
    max_turn_chars: int = Field(
        default=8000,
        ge=1,
        description="Most characters of one history turn (422 above).",
    )
    max_history_chars: int = Field(
        default=100_000,
        ge=1,
        description="Most characters of a whole history (422 above).",
    )
