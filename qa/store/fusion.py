"""Fusing dense and BM25 candidates into one ranking, and keeping near-duplicates out of it.

Kept apart from the collection's storage so the evaluation scripts can replay
fusion on cached candidate lists without touching an index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from qa.records import Fusion, SearchHit, StoredChunk
from qa.text import lexical_tokens


def fuse(
    dense: list[tuple[int, float]], sparse: list[tuple[int, float]], k: int, rrf_k: int = 60
) -> list[tuple[int, float, dict[str, float | int]]]:
    """Reciprocal-rank fusion: robust to the two retrievers' incomparable score scales."""
    views = _views(dense, sparse)
    fused = {row: 0.0 for row in views}
    for ranked in (dense, sparse):
        for rank, (row, _) in enumerate(ranked, start=1):
            fused[row] += 1.0 / (rrf_k + rank)
    return _top(fused, views, k)


def _views(
    dense: list[tuple[int, float]], sparse: list[tuple[int, float]]
) -> dict[int, dict[str, float | int]]:
    """Each candidate's rank and score in each list, kept for --explain."""
    views: dict[int, dict[str, float | int]] = {}
    for name, ranked in (("dense", dense), ("sparse", sparse)):
        for rank, (row, score) in enumerate(ranked, start=1):
            views.setdefault(row, {})[f"{name}_rank"] = rank
            views[row][f"{name}_score"] = score
    return views


def _top(
    fused: dict[int, float], views: dict[int, dict[str, float | int]], k: int
) -> list[tuple[int, float, dict[str, float | int]]]:
    order = sorted(fused, key=lambda row: -fused[row])[:k]
    return [(row, fused[row], views[row]) for row in order]


def blend(
    dense: list[tuple[int, float]], sparse: list[tuple[int, float]], k: int, alpha: float = 0.5
) -> list[tuple[int, float, dict[str, float | int]]]:
    """Convex blend of min-max-normalised scores; a candidate missing from one list gets 0."""

    def normalised(ranked: list[tuple[int, float]]) -> dict[int, float]:
        if not ranked:
            return {}
        scores = [s for _, s in ranked]
        low, span = min(scores), (max(scores) - min(scores)) or 1.0
        return {row: (s - low) / span for row, s in ranked}

    d, s = normalised(dense), normalised(sparse)
    views = _views(dense, sparse)
    fused = {row: alpha * d.get(row, 0.0) + (1 - alpha) * s.get(row, 0.0) for row in views}
    return _top(fused, views, k)


def _redundant(a: StoredChunk, b: StoredChunk, tokens: dict[int, set[str]]) -> bool:
    if a.document_id == b.document_id and a.page == b.page:
        overlap = min(a.end, b.end) - max(a.start, b.start)
        if overlap > 0.5 * min(a.end - a.start, b.end - b.start):
            return True
    ta, tb = _token_set(a, tokens), _token_set(b, tokens)
    return bool(ta) and len(ta & tb) / len(ta | tb) >= 0.9


def _token_set(chunk: StoredChunk, cache: dict[int, set[str]]) -> set[str]:
    found = cache.get(chunk.row_id)
    if found is None:
        found = cache[chunk.row_id] = set(lexical_tokens(chunk.text))
    return found


TOKEN_CACHE_LIMIT = 200_000
"""Token sets a long-lived cache keeps before it starts again (about 0.5 KB each)."""


def deduplicate(
    hits: list[SearchHit],
    k: int,
    tokens: dict[int, set[str]] | None = None,
    kept: list[SearchHit] | None = None,
) -> list[SearchHit]:
    """Keep the best-ranked of passages that mostly overlap (same document) or repeat text.

    `tokens` caches each chunk's token set by row id; evaluations replaying many
    rankings over one collection share it instead of re-tokenising every time.
    `kept`: better-ranked hits already kept, which `hits` continue.
    """
    kept = [] if kept is None else list(kept)
    if len(kept) >= k:
        return kept
    tokens = {} if tokens is None else tokens
    if len(tokens) > TOKEN_CACHE_LIMIT:
        tokens.clear()
    for hit in hits:
        if not any(_redundant(hit.chunk, other.chunk, tokens) for other in kept):
            kept.append(hit)
            if len(kept) == k:
                break
    return kept


def ranked_hits(
    dense: list[tuple[int, float]],
    sparse: list[tuple[int, float]],
    fetch: Callable[[Iterable[int]], Mapping[int, StoredChunk]],
    k: int,
    *,
    depth: int,
    fusion: Fusion,
    alpha: float,
    tokens: dict[int, set[str]] | None = None,
) -> list[SearchHit]:
    """What every backend does once it has its dense and BM25 candidates: fuse them,
    fetch the fused chunks, and keep k without near-duplicates.

    The fused candidates (3k or more) are fetched best first, 2k of them, then the rest
    only if near-duplicates left fewer than k: they seldom do, and reading every
    candidate's text and metadata was about a seventh of a search whose query vector
    was cached (docs/PERFORMANCE.md, "Follow-ups made after these measurements")."""
    fused = fuse(dense, sparse, depth) if fusion == "rrf" else blend(dense, sparse, depth, alpha)
    tokens = {} if tokens is None else tokens
    kept: list[SearchHit] = []
    start, size = 0, 2 * k
    while start < len(fused) and len(kept) < k:
        batch = fused[start : start + size]
        chunks = fetch(row for row, _, _ in batch)
        hits = [
            SearchHit(chunks[row], score, **views)  # type: ignore[arg-type]
            for row, score, views in batch
            if row in chunks
        ]
        kept = deduplicate(hits, k, tokens, kept)
        start, size = start + size, len(fused)
    return kept
