"""Search an opened query's collection: embed the query, fuse dense and BM25
candidates under the filters, and let the cross-encoder reorder them when one is set."""

from __future__ import annotations

from dataclasses import replace

from qa.models.reranker import Reranker
from qa.records import SearchHit, SearchRequest
from qa.retrieval.context import QueryContext, QuerySource


class Retriever:
    """The passages nearest a query, best first.

    Takes an opened `QueryContext`, so the collection and embedder the caller opened
    are the ones searched; `search` opens one itself for callers with a bare request.
    """

    def __init__(self, source: QuerySource) -> None:
        self.source = source

    def search(self, request: SearchRequest) -> list[SearchHit]:
        return self.run(self.source.open_query(request))

    def run(self, query: QueryContext) -> list[SearchHit]:
        settings = self.source.settings
        request = query.request
        vector = None
        if request.mode != "sparse":
            vector = query.query_embedder().embed_queries([request.query])[0]
        reranker = self.source.reranker()
        depth = max(request.k, settings.rerank_depth) if reranker else request.k
        hits = query.collection.search(
            replace(request, k=depth, fusion=settings.fusion, alpha=settings.blend_alpha), vector
        )
        return rerank(reranker, request.query, hits)[: request.k] if reranker else hits


def rerank(reranker: Reranker, query: str, hits: list[SearchHit]) -> list[SearchHit]:
    """Order by the cross-encoder's score; the fused score stays for explanation."""
    scores = reranker.scores(query, [h.chunk.text for h in hits])
    rescored = [replace(h, rerank_score=s) for h, s in zip(hits, scores, strict=True)]
    return sorted(rescored, key=lambda h: -(h.rerank_score or 0.0))
