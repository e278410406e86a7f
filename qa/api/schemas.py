"""Request and response bodies of the HTTP contract (../shared/DESIGN.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Filters become parameters of one SQL query: SQLite takes integers of 64 bits and, as
# commonly built, 32,766 parameters at most; past either the store fails with a 500.
_FilterScalar = str | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | float | bool
FilterValue = _FilterScalar | Annotated[list[_FilterScalar], Field(max_length=1000)]
Filters = Annotated[dict[str, FilterValue], Field(max_length=16)]


class TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The question, in English or Chinese.")
    collection: str = "default"
    k: int | None = Field(default=None, ge=1, le=100)
    filters: Filters | None = None
    stream: bool = False
    history: list[TurnIn] | None = Field(
        default=None,
        description="The conversation before the question, oldest first: a follow-up is "
        "searched as the standalone question made of it (returned as "
        "`standalone_question`). Bounded by QA_MAX_HISTORY_TURNS, QA_MAX_TURN_CHARS and "
        "QA_MAX_HISTORY_CHARS (422 above).",
    )
    conversation_id: str | None = Field(
        default=None,
        max_length=128,
        description="A conversation kept by the server (POST /v1/conversations): its "
        "turns are the history, and this question and its answer are added to it.",
    )


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


class RegionOut(BaseModel):
    """One line of an OCR'd passage on its page."""

    page: str = Field(description="The page's label, as its picture's URL names it.")
    box: list[float] = Field(
        min_length=4, max_length=4, description="x0, y0, x1, y1 in fractions of the page."
    )
    quote: bool = Field(description="Whether the quote lies on this line.")
    image: bool = Field(
        description="Whether the page's picture is kept: GET "
        "/v1/collections/{collection}/documents/{document}/pages/{page}/image."
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
    regions: list[RegionOut] = Field(
        default_factory=list,
        description="For a passage read by OCR, where on its page(s) it was read.",
    )


class AnswerOut(BaseModel):
    answer: str
    found: bool
    citations: list[CitationOut]
    language: str
    timings: dict[str, float]
    confidence: float | None = Field(
        default=None,
        description="How likely the answer is right, in [0, 1]; answers below the "
        "calibrated threshold are refused. None when no calibration is installed.",
    )
    standalone_question: str | None = Field(
        default=None,
        description="With a history only: the standalone question that was searched.",
    )
    clarification: bool | None = Field(
        default=None,
        description="With a history only: true when the answer is a question back, "
        "because the question names nothing to search for.",
    )


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
    phase: Literal["reading", "embedding"] | None = Field(
        default=None,
        description="'reading': a file's pages read by OCR (`file`); 'embedding': chunks.",
    )
    unit: Literal["pages", "chunks"] | None = Field(
        default=None, description="What `done` and `total` count."
    )
    file: str | None = Field(default=None, description="The file being read, while reading.")


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


class ProblemOut(BaseModel):
    """application/problem+json (RFC 9457), the body of every error. Extension members
    are allowed: 422 adds `errors`, the OpenAI-compatible routes add `error`."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = Field(
        default=None, description="422 only: each invalid field and what is wrong with it."
    )


_PROBLEM_STATUSES: dict[int, str] = {
    400: "Malformed JSON.",
    401: "No API key, or an unknown or revoked one (once keys exist).",
    403: "The key's role or collections do not allow this.",
    404: "Unknown collection, document, job or conversation (another key's conversation too).",
    409: "Conflicts with the current state: the collection exists, its index was built "
    "with another embedder, the conversation is over another collection, or the key "
    "holds QA_CONVERSATIONS_PER_KEY conversations.",
    413: "The body is over QA_MAX_BODY_BYTES (uploads: QA_MAX_UPLOAD_BYTES).",
    415: "A file type or content type the route does not take.",
    422: "A field is invalid.",
    503: "Busy (retry after Retry-After seconds), or models or the catalogue unavailable.",
    504: "No answer within QA_REQUEST_TIMEOUT_S.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A `responses=` mapping that declares these statuses as problem+json in the OpenAPI
    document: without it a client, or the schema fuzzer (tests/e2e/test_schema_fuzz.py),
    cannot tell a refusal the API means from a breach of its contract."""
    content = {"application/problem+json": {"schema": ProblemOut.model_json_schema()}}
    return {
        status: {"description": _PROBLEM_STATUSES[status], "content": content}
        for status in statuses
    }
