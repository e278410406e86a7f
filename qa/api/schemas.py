"""Request and response bodies of the HTTP contract (../shared/DESIGN.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FilterValue = str | int | float | bool | list[str | int | float | bool]


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The question, in English or Chinese.")
    collection: str = "default"
    k: int | None = Field(default=None, ge=1, le=100)
    filters: dict[str, FilterValue] | None = None
    stream: bool = False


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    collection: str = "default"
    k: int = Field(default=10, ge=1, le=100)
    filters: dict[str, FilterValue] | None = None
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    explain: bool = Field(
        default=False, description="Add each result's dense and sparse rank and score."
    )


class CitationOut(BaseModel):
    n: int
    document: str
    chunk_id: str
    page: int | None
    text: str
    quote: str
    score: float
    quote_start: int
    quote_end: int
    title: str
    section: str | None


class AnswerOut(BaseModel):
    answer: str
    found: bool
    citations: list[CitationOut]
    language: str
    timings: dict[str, float]


class SearchResultOut(BaseModel):
    rank: int
    score: float
    document: str
    chunk_id: str
    page: int | None
    text: str
    title: str
    section: str | None
    metadata: dict[str, Any]
    explain: dict[str, float | int | None] | None = None


class SearchOut(BaseModel):
    results: list[SearchResultOut]
