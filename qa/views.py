"""The contract's JSON shapes of search results, shared by the HTTP API and the CLI so
both print the same thing (see DESIGN.md: `qa search --json` and `POST /v1/search`)."""

from __future__ import annotations

from typing import Any

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
    """The document's metadata as one passage shows it. An OCR'd document's line boxes
    (page label -> [x0, y0, x1, y1, start, end], coordinates in page fractions, offsets in
    the document's text) are cut to the lines this passage holds: where on its page it
    was read, instead of every line of every page (about 1 MB of JSON a hit for a
    300-page scan)."""
    ocr = chunk.metadata.get("ocr")
    if not isinstance(ocr, dict):
        return chunk.metadata
    boxes = ocr.get("boxes")
    if not isinstance(boxes, dict) or not all(
        isinstance(lines, list) and all(_is_box(box) for box in lines) for lines in boxes.values()
    ):
        return chunk.metadata
    own = {
        page: kept
        for page, lines in boxes.items()
        if (kept := [box for box in lines if box[4] < chunk.end and box[5] > chunk.start])
    }
    return {**chunk.metadata, "ocr": {**ocr, "boxes": own}}


def _is_box(box: object) -> bool:
    return (
        isinstance(box, list)
        and len(box) == 6
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
    )
