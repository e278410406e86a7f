"""Request and response bodies of the HTTP contract (../shared/DESIGN.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Filters become parameters of one SQL query: SQLite takes integers of 64 bits and, as
# commonly built, 32,766 parameters at most; past either the store fails with a 500.
_FilterScalar = str | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | float | bool
FilterValue = _FilterScalar | Annotated[list[_FilterScalar], Field(max_length=1000)]
Filters = Annotated[dict[str, FilterValue], Field(max_length=16)]


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The question, in English or Chinese.")
    collection: str = "default"
    k: int | None = Field(default=None, ge=1, le=100)
    filters: Filters | None = None
    stream: bool = False


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    collection: str = "default"
    k: int = Field(default=10, ge=1, le=100)
    filters: Filters | None = None
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


class CollectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="Letters, digits, '_', '-', '.'.")
    embedder: Literal["auto", "minilm", "e5-multilingual"] | None = Field(
        default=None,
        description="[default: the server's setting; auto picks by the language of the "
        "first documents]. Local model folders are for the CLI only.",
    )


class CollectionOut(BaseModel):
    name: str
    documents: int
    chunks: int
    embedder: str | None
    generation: int | None
    created_at: str | None = None


class CollectionsOut(BaseModel):
    collections: list[CollectionOut]


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=512)
    text: str = Field(min_length=1)
    title: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecordsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[RecordIn] = Field(min_length=1)


class DocumentOut(BaseModel):
    id: str
    title: str
    chunks: int
    characters: int
    ingested_at: str
    metadata: dict[str, Any]
    content_hash: str
    text: str | None = None


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]
    total: int
    offset: int
    limit: int


class JobProgressOut(BaseModel):
    done: int
    total: int
    fraction: float | None


class JobOut(BaseModel):
    id: str
    collection: str
    status: Literal["queued", "running", "done", "failed"]
    files: list[str]
    progress: JobProgressOut
    errors: list[str]
    result: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
