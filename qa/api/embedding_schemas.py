"""Bodies of POST /v1/embeddings, in OpenAI's shape."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="A local embedder: 'minilm' or 'e5-multilingual'.")
    input: str | list[str] = Field(description="One text or a list of texts.")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="'base64': each vector as little-endian float32 bytes."
    )
    input_type: Literal["passage", "query"] = Field(
        default="passage",
        description="Not in OpenAI's API: e5 embeds a query differently from a passage "
        "('query: ' against 'passage: '); MiniLM embeds both alike.",
    )
    user: str | None = Field(default=None, description="Accepted and ignored, as OpenAI's.")


class EmbeddingOut(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class UsageOut(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingOut]
    model: str
    usage: UsageOut
