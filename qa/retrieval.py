"""Search a collection: embed the query, find the nearest passages, apply filters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from qa.errors import InvalidInputError
from qa.models.reranker import Reranker
from qa.records import SearchHit, SearchRequest
from qa.runtime import Runtime


def validate_query(text: str, max_chars: int, what: str = "query") -> str:
    if not text or not text.strip():
        raise InvalidInputError(f"{what} is empty")
    if len(text) > max_chars:
        raise InvalidInputError(f"{what} is {len(text)} characters, over the limit of {max_chars}")
    return text.strip()


class Retriever:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def search(self, request: SearchRequest) -> list[SearchHit]:
        settings = self.runtime.settings
        query = validate_query(request.query, settings.max_question_chars)
        if not 1 <= request.k <= settings.max_k:
            raise InvalidInputError(f"k must be between 1 and {settings.max_k}")
        collection = self.runtime.collection(request.collection)
        vector = None
        if request.mode != "sparse":
            vector = self.runtime.query_embedder(collection).embed_queries([query])[0]
        reranker = self.runtime.reranker()
        depth = max(request.k, settings.rerank_depth) if reranker else request.k
        hits = collection.search(
            replace(
                request, query=query, k=depth, fusion=settings.fusion, alpha=settings.blend_alpha
            ),
            vector,
        )
        return rerank(reranker, query, hits)[: request.k] if reranker else hits


def rerank(reranker: Reranker, query: str, hits: list[SearchHit]) -> list[SearchHit]:
    """Order by the cross-encoder's score; the fused score stays for explanation."""
    scores = reranker.scores(query, [h.chunk.text for h in hits])
    rescored = [replace(h, rerank_score=s) for h, s in zip(hits, scores, strict=True)]
    return sorted(rescored, key=lambda h: -(h.rerank_score or 0.0))


def explanation(hit: SearchHit) -> dict[str, Any]:
    """Why a passage ranked where it did: each retriever's rank and score, and the fusion."""
    return {
        "dense_rank": hit.dense_rank,
        "dense_score": None if hit.dense_score is None else round(hit.dense_score, 6),
        "sparse_rank": hit.sparse_rank,
        "sparse_score": None if hit.sparse_score is None else round(hit.sparse_score, 6),
        "fused_score": round(hit.score, 6),
        "rerank_score": None if hit.rerank_score is None else round(hit.rerank_score, 6),
    }


def result_dict(rank: int, hit: SearchHit, *, explain: bool = False) -> dict[str, Any]:
    """One search result in the contract's shape (plus title and section)."""
    chunk = hit.chunk
    extra = {"explain": explanation(hit)} if explain else {}
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "document": chunk.document_id,
        "chunk_id": chunk.chunk_id,
        "page": chunk.page,
        "text": chunk.text,
        "title": chunk.title,
        "section": chunk.section,
        "metadata": chunk.metadata,
        **extra,
    }
