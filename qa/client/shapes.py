"""The JSON shapes the qa server answers with, as typed dictionaries: what the
client's methods return, so callers get completion and type checks without a model
layer in between."""

from __future__ import annotations

import os
from typing import IO, Any, Literal, NotRequired, TypedDict

FilterValue = str | int | float | bool | list[str | int | float | bool]


class Region(TypedDict):
    """One line of an OCR'd passage on its page, in fractions of the page."""

    page: str
    box: list[float]
    quote: bool
    image: bool


class Citation(TypedDict):
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
    regions: NotRequired[list[Region]]


class Answer(TypedDict):
    answer: str
    found: bool
    citations: list[Citation]
    language: str
    timings: dict[str, float]
    confidence: NotRequired[float | None]
    standalone_question: NotRequired[str]
    """Asked with a history only: what was searched."""
    clarification: NotRequired[bool]
    """Asked with a history only: the answer is a question back."""


class Turn(TypedDict):
    """One earlier message of a conversation, as `history` sends it."""

    role: Literal["user", "assistant"]
    content: str


class Message(TypedDict):
    """A stored conversation's message; an assistant's also has its answer's fields."""

    role: Literal["user", "assistant"]
    content: str
    created_at: str
    found: NotRequired[bool]
    citations: NotRequired[list[Citation]]
    confidence: NotRequired[float | None]
    language: NotRequired[str]
    standalone_question: NotRequired[str]
    clarification: NotRequired[bool]


class Conversation(TypedDict):
    id: str
    collection: str
    title: str | None
    created_at: str
    updated_at: str
    message_count: int
    messages: NotRequired[list[Message]]
    """Oldest first; in a single conversation's reading, not in a list of them."""


class ConversationsPage(TypedDict):
    conversations: list[Conversation]
    total: int
    offset: int
    limit: int


class SearchResult(TypedDict):
    rank: int
    score: float
    document: str
    chunk_id: str
    page: int | None
    text: str
    title: str
    section: str | None
    metadata: dict[str, Any]
    explain: NotRequired[dict[str, float | int | None] | None]


class JobProgress(TypedDict):
    done: int
    total: int
    fraction: float | None


class Job(TypedDict):
    id: str
    collection: str
    status: Literal["queued", "running", "done", "failed"]
    files: list[str]
    progress: JobProgress
    errors: list[str]
    result: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None


class Collection(TypedDict):
    name: str
    documents: int
    chunks: int
    embedder: str | None
    generation: int | None
    created_at: str | None


class Document(TypedDict):
    id: str
    title: str
    chunks: int
    characters: int
    ingested_at: str
    metadata: dict[str, Any]
    content_hash: str
    text: NotRequired[str | None]


class DocumentsPage(TypedDict):
    documents: list[Document]
    total: int
    offset: int
    limit: int


class Record(TypedDict):
    id: str
    text: str
    title: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]


StreamItem = str | Answer
"""What ask_stream yields: draft text pieces (str) as the model writes, then one Answer.
The draft is not the answer: grounding may drop its sentences and adds [n] markers."""

Upload = str | os.PathLike[str] | tuple[str, bytes | IO[bytes]]
"""A file to upload: a path, or (file name, content). The file name becomes the
document id, as with `qa ingest FILE`."""
