"""One query, validated and opened once: what retrieval, generation and grounding share.

A question used to be validated four times and its collection and embedder looked up
three times on its way through the API, the pipeline and the retriever, each lookup
re-reading the store's version. The entry points now open a `QueryContext` once, and
everything after receives it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from qa.errors import InvalidInputError
from qa.models.protocols import Embedder
from qa.models.reranker import Reranker
from qa.records import SearchRequest
from qa.settings import Settings
from qa.store.backend import CollectionReader
from qa.text import Language


def validate_query(text: str, max_chars: int, what: str = "query") -> str:
    if not text or not text.strip():
        raise InvalidInputError(f"{what} is empty")
    if len(text) > max_chars:
        raise InvalidInputError(f"{what} is {len(text)} characters, over the limit of {max_chars}")
    return text.strip()


def validated(request: SearchRequest, settings: Settings, what: str = "query") -> SearchRequest:
    """The request with its text stripped, or the 422 that says what is wrong with it."""
    text = validate_query(request.query, settings.max_question_chars, what)
    if not 1 <= request.k <= settings.max_k:
        raise InvalidInputError(f"k must be between 1 and {settings.max_k}")
    return replace(request, query=text)


@dataclass(frozen=True)
class QueryContext:
    """A validated query with its collection's live generation and its query embedder.

    The collection is the generation that was live when the query was opened: a
    writer publishing meanwhile does not change what this query reads.
    """

    request: SearchRequest
    language: Language
    collection: CollectionReader
    embedder: Embedder | None
    """None only for a sparse-only search, which needs no model."""

    @property
    def text(self) -> str:
        return self.request.query

    def query_embedder(self) -> Embedder:
        if self.embedder is None:
            raise ValueError("this query was opened for sparse search, without an embedder")
        return self.embedder


class QuerySource(Protocol):
    """What retrieval needs of the process: its settings, a way to open a query, and
    the reranker. The runtime provides it; retrieval never imports the runtime."""

    settings: Settings

    def open_query(self, request: SearchRequest, *, what: str = "query") -> QueryContext: ...

    def reranker(self) -> Reranker | None: ...
