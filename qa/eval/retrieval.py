"""Retrieval evaluation: one dataset, one embedder, BM25 / dense / hybrid side by side.

Relevance is judged per document: a query's chunk ranking is collapsed to the
order in which documents first appear, so long documents split into many
chunks are neither rewarded nor punished for it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qa.eval.datasets import RetrievalDataset
from qa.eval.metrics import dedupe_ranking, summarize
from qa.records import Fusion, SearchMode, SearchRequest
from qa.runtime import Runtime
from qa.settings import Settings

MODES: tuple[SearchMode, ...] = ("sparse", "dense", "hybrid")
CHUNK_DEPTH = 50


@dataclass
class RetrievalResult:
    dataset: str
    embedder: str
    mode: str
    queries: int
    recall: dict[int, float]
    mrr10: float
    ndcg10: float
    queries_per_s: float
    index_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    dataset: RetrievalDataset,
    *,
    embedder: str,
    settings: Settings,
    modes: tuple[SearchMode, ...] = MODES,
    limit: int | None = None,
    progress: bool = True,
    fusion: Fusion | None = None,
) -> list[RetrievalResult]:
    fusion = fusion or settings.fusion
    queries = [q for q in dataset.queries if q.relevant][:limit]
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        runtime = Runtime(settings.model_copy(update={"index_dir": Path(tmp)}))
        model = runtime.embedder(embedder)
        started = time.perf_counter()
        runtime.ingest_documents(dataset.documents, "eval", embedder=embedder, progress=progress)
        index_s = time.perf_counter() - started
        collection = runtime.collection("eval")
        results = []
        for mode in modes:
            rankings = []
            started = time.perf_counter()
            for query in tqdm(queries, desc=f"{dataset.name} {mode}", disable=not progress):
                vector = model.embed_queries([query.text])[0] if mode != "sparse" else None
                request = SearchRequest(
                    query.text, k=CHUNK_DEPTH, mode=mode, fusion=fusion, alpha=settings.blend_alpha
                )
                hits = collection.search(request, vector)
                ranked = dedupe_ranking([h.chunk.document_id for h in hits])
                rankings.append((ranked, query.relevant))
            elapsed = time.perf_counter() - started
            summary = summarize(rankings)
            results.append(
                RetrievalResult(
                    dataset=dataset.name,
                    embedder=embedder,
                    mode=mode if mode != "hybrid" else f"{mode}-{fusion}",
                    queries=summary.count,
                    recall=summary.recall,
                    mrr10=summary.mrr10,
                    ndcg10=summary.ndcg10,
                    queries_per_s=len(queries) / elapsed if elapsed else 0.0,
                    index_s=index_s,
                )
            )
        collection.close()
    return results


def table(results: list[RetrievalResult]) -> str:
    lines = [
        f"{'dataset':<10} {'embedder':<16} {'mode':<7} {'queries':>7} {'R@1':>6} {'R@10':>6} "
        f"{'MRR@10':>7} {'nDCG@10':>8} {'q/s':>7}"
    ]
    for r in results:
        lines.append(
            f"{r.dataset:<10} {r.embedder:<16} {r.mode:<7} {r.queries:>7} {r.recall[1]:>6.3f} "
            f"{r.recall[10]:>6.3f} {r.mrr10:>7.3f} {r.ndcg10:>8.3f} {r.queries_per_s:>7.1f}"
        )
    return "\n".join(lines)
