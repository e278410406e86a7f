"""The contract's JSON shapes of search results, shared by the HTTP API and the CLI so
both print the same thing (see DESIGN.md: `qa search --json` and `POST /v1/search`)."""

from __future__ import annotations

from typing import Any

from qa.page_regions import cut_to
from qa.records import SearchHit, StoredChunk


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
        "metadata": passage_metadata(chunk),
        **extra,
    }


def passage_metadata(chunk: StoredChunk) -> dict[str, Any]:
    """The document's metadata as one passage shows it: an OCR'd document's line boxes
    cut to the lines this passage holds, where on its page it was read, instead of every
    line of every page (about 1 MB of JSON a hit for a 300-page scan)."""
    return cut_to(chunk.metadata, chunk.start, chunk.end)
