"""The records every layer passes around: documents, chunks, search hits, answers.

They live at the bottom so that loaders, stores, retrieval, the answer pipeline and
the entry points can all speak of the same things without importing each other;
this module imports nothing of ours but `errors` and `text`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from qa.errors import InvalidInputError
from qa.text import Language

FilterValue = str | int | float | bool | Sequence[str | int | float | bool]
"""A metadata filter's value: equal to it, or (a sequence) equal to any of them."""

SearchMode = Literal["hybrid", "dense", "sparse"]
Fusion = Literal["rrf", "blend"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    """Collection names become folder names and Milvus keys: keep them to a safe alphabet.

    `fullmatch`, not `match` with `$`: `$` also matches before a trailing newline, which
    would let "name\\n" through as a folder name.
    """
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidInputError(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Span:
    """A labelled character range of the document text (a page, or a section)."""

    start: int
    end: int
    label: str


@dataclass
class Document:
    """A loaded document before chunking, and the source of truth a rebuild starts from."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    pages: list[Span] = field(default_factory=list)
    """Page spans (label = page number) for paged formats; empty otherwise."""
    sections: list[Span] = field(default_factory=list)
    """Heading spans, label = heading path such as 'Part 2 > Section 12'; as
    heading_sections makes them, in order and not overlapping."""
    source: str | None = None
    page_images: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    """Pictures of OCR'd pages (label -> JPEG), from the loader to the catalogue's
    PageImages: not part of the record, which a store copies with every generation."""

    @property
    def content_hash(self) -> str:
        """Changes whenever anything a search result shows would change."""
        payload = json.dumps(
            {
                "text": self.text,
                "title": self.title,
                "metadata": self.metadata,
                "pages": [(p.start, p.end, p.label) for p in self.pages],
                "sections": [(s.start, s.end, s.label) for s in self.sections],
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_record(self) -> dict[str, Any]:
        """The document as JSON holds it: one shape for an export's lines, the SQLite
        docstore's columns and Milvus's document rows."""
        return {
            "id": self.id,
            "title": self.title,
            "text": self.text,
            "metadata": self.metadata,
            "pages": [[p.start, p.end, p.label] for p in self.pages],
            "sections": [[s.start, s.end, s.label] for s in self.sections],
            "source": self.source,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Document:
        """The document `to_record` wrote; keys a store keeps beside it are ignored."""
        return cls(
            id=record["id"],
            title=record["title"],
            text=record["text"],
            metadata=record["metadata"],
            pages=[Span(*p) for p in record["pages"]],
            sections=[Span(*s) for s in record["sections"]],
            source=record["source"],
        )


@dataclass(frozen=True)
class Chunk:
    """An exact slice of a document's text, so quotes from it can be checked."""

    document_id: str
    ordinal: int
    start: int
    end: int
    text: str
    page: int | None
    section: str | None

    @property
    def chunk_id(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as a store returns it: with its row id and its document's title and metadata."""

    row_id: int
    document_id: str
    ordinal: int
    start: int
    end: int
    page: int | None
    section: str | None
    text: str
    title: str
    metadata: dict[str, Any]

    @property
    def chunk_id(self) -> str:
        return f"{self.document_id}#{self.ordinal}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StoredChunk:
        """A stored chunk from a row keyed by these field names (each store maps its own
        column names onto them)."""
        return cls(
            row_id=int(record["row_id"]),
            document_id=record["document_id"],
            ordinal=int(record["ordinal"]),
            start=int(record["start"]),
            end=int(record["end"]),
            page=record.get("page"),
            section=record.get("section"),
            text=record["text"],
            title=record["title"],
            metadata=dict(record.get("metadata") or {}),
        )

    def chunk(self) -> Chunk:
        """The chunk this was stored from (for moving it to another store)."""
        return Chunk(
            document_id=self.document_id,
            ordinal=self.ordinal,
            start=self.start,
            end=self.end,
            text=self.text,
            page=self.page,
            section=self.section,
        )


@dataclass(frozen=True)
class SearchRequest:
    """One search, as the API and CLI ask it and as a store runs it.

    The retriever fills in the fusion settings and asks the store for more than k
    when a reranker will cut the list down afterwards.
    """

    query: str
    collection: str = "default"
    k: int = 5
    filters: Mapping[str, FilterValue] | None = None
    mode: SearchMode = "hybrid"
    fusion: Fusion = "blend"
    alpha: float = 0.6
    candidates: int = 50
    """Candidates each retriever contributes before fusion (at least 3k)."""


@dataclass(frozen=True)
class SearchHit:
    """A passage with its fused score and, for explanation, each retriever's view of it."""

    chunk: StoredChunk
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_score: float | None = None
    sparse_rank: int | None = None
    rerank_score: float | None = None


@dataclass(frozen=True)
class Citation:
    """The passage behind one [n] of an answer, with the quote that supports it."""

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
    regions: list[dict[str, Any]] = field(default_factory=list)
    """For an OCR'd passage, its lines on their pages (qa.page_regions.regions)."""


Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation, as a client sends it back (or a stored
    conversation holds it): what a follow-up question may refer to."""

    role: Role
    content: str


@dataclass
class Answer:
    """What a question gets: grounded text with [n] marks, or found=False and a refusal."""

    answer: str
    found: bool
    citations: list[Citation] = field(default_factory=list)
    language: Language = "en"
    timings: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    """How likely the answer is right, in [0, 1] (qa/answer/confidence.py); None when
    no calibration is installed."""
    standalone_question: str | None = None
    """What was searched when the question came with a history (None without one)."""
    clarification: bool = False
    """The answer is a question back: even with the history the question names nothing
    to search for."""

    def to_dict(self) -> dict[str, Any]:
        """The answer object of the contract; `standalone_question` and `clarification`
        only when the question came with a history (../shared/DESIGN.md)."""
        out: dict[str, Any] = {
            "answer": self.answer,
            "found": self.found,
            "citations": [asdict(c) for c in self.citations],
            "language": self.language,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "confidence": None if self.confidence is None else round(self.confidence, 4),
        }
        if self.standalone_question is not None:
            out["standalone_question"] = self.standalone_question
            out["clarification"] = self.clarification
        return out
