"""Each way to fuse dense and BM25 candidates, scored on one set and embedder.

    .venv/bin/python scripts/sweep_fusion.py med minilm [--limit N]

Indexes the set once, retrieves 50 dense and 50 BM25 candidates per query once
(kept in reports/candidates-SET-EMBEDDER.pkl, reused by later runs with the same
set, embedder and limit), then scores dense only, BM25 only, reciprocal-rank
fusion (k=60) and the min-max score blend for several dense weights: recall@10,
MRR@10 and nDCG@10 at document level, as `qa eval retrieval` does.

Held-out check: the queries are split in two by a seeded shuffle; the weight
that is best on one half is scored on the other, both ways round, so a weight
is not only judged on the queries it was picked on.
Writes reports/sweep_fusion-SET-EMBEDDER.json.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qa.eval.datasets import load_dataset
from qa.eval.metrics import MetricSummary, dedupe_ranking, summarize
from qa.records import SearchHit, StoredChunk
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.fusion import blend, deduplicate, fuse

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 50
Ranked = list[tuple[int, float]]
Fused = list[tuple[int, float, dict[str, float | int]]]
Method = Callable[[Ranked, Ranked], Fused]


def candidates(dataset: str, embedder: str, limit: int | None, cache: Path) -> dict[str, Any]:
    if cache.is_file():
        with cache.open("rb") as fh:
            found: dict[str, Any] = pickle.load(fh)
        if (found["dataset"], found["embedder"], found["limit"]) == (dataset, embedder, limit):
            return found
    settings = Settings()
    data = load_dataset(dataset, settings.data_dir)
    queries = [q for q in data.queries if q.relevant][:limit]
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(settings.model_copy(update={"index_dir": Path(tmp)}))
        runtime.ingest_documents(data.documents, "sweep", embedder=embedder)
        collection = runtime.collection("sweep")
        vectors = runtime.embedder(embedder).embed_queries([q.text for q in queries])
        dense = [collection.dense.search(v, DEPTH) for v in tqdm(vectors, desc="dense")]
        sparse = [collection.sparse.search(q.text, DEPTH) for q in tqdm(queries, desc="BM25")]
        rows = {row for ranked in dense + sparse for row, _ in ranked}
        chunks = collection.docstore.chunks_by_row_ids(rows)
        collection.close()
    found = {
        "dataset": dataset,
        "embedder": embedder,
        "limit": limit,
        "relevant": [q.relevant for q in queries],
        "dense": dense,
        "sparse": sparse,
        "chunks": chunks,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as fh:
        pickle.dump(found, fh)
    return found


def score(cands: dict[str, Any], method: Method, which: Sequence[int]) -> MetricSummary:
    chunks: dict[int, StoredChunk] = cands["chunks"]
    tokens: dict[int, set[str]] = cands.setdefault("tokens", {})
    rankings = []
    for i in which:
        fused = method(cands["dense"][i], cands["sparse"][i])
        hits = [SearchHit(chunks[row], s, **v) for row, s, v in fused]  # type: ignore[arg-type]
        ranked = [h.chunk.document_id for h in deduplicate(hits, DEPTH, tokens)]
        rankings.append((dedupe_ranking(ranked), cands["relevant"][i]))
    return summarize(rankings)


def figures(summary: MetricSummary) -> dict[str, float]:
    return {
        "recall10": round(summary.recall[10], 4),
        "mrr10": round(summary.mrr10, 4),
        "ndcg10": round(summary.ndcg10, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("dataset")
    parser.add_argument("embedder")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    cache = ROOT / "reports" / f"candidates-{args.dataset}-{Path(args.embedder).name}.pkl"
    cands = candidates(args.dataset, args.embedder, args.limit, cache)
    everything = range(len(cands["relevant"]))
    methods: dict[str, Method] = {
        "dense": lambda d, s: fuse(d, [], DEPTH),
        "sparse": lambda d, s: fuse([], s, DEPTH),
        "rrf": lambda d, s: fuse(d, s, DEPTH),
    }
    for alpha in args.alphas:
        methods[f"blend-{alpha}"] = lambda d, s, a=alpha: blend(d, s, DEPTH, a)  # type: ignore[misc]
    results = {name: figures(score(cands, m, everything)) for name, m in methods.items()}

    order = list(everything)
    random.Random(args.seed).shuffle(order)
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    held_out = []
    for pick, test in (halves, halves[::-1]):
        on_pick = {a: score(cands, methods[f"blend-{a}"], pick).ndcg10 for a in args.alphas}
        best = max(on_pick, key=lambda a: on_pick[a])
        held_out.append(
            {
                "alpha": best,
                "blend": round(score(cands, methods[f"blend-{best}"], test).ndcg10, 4),
                "dense": round(score(cands, methods["dense"], test).ndcg10, 4),
                "sparse": round(score(cands, methods["sparse"], test).ndcg10, 4),
            }
        )
    report = {
        "dataset": args.dataset,
        "embedder": args.embedder,
        "queries": len(order),
        "results": results,
        "held_out": held_out,
    }
    print(f"{args.dataset} / {args.embedder}: {len(order)} queries")
    print(f"{'method':<10} {'R@10':>6} {'MRR@10':>7} {'nDCG@10':>8}")
    for name, r in results.items():
        print(f"{name:<10} {r['recall10']:>6.3f} {r['mrr10']:>7.3f} {r['ndcg10']:>8.3f}")
    for fold in held_out:
        print(
            f"held out: alpha {fold['alpha']} picked on one half scores nDCG@10 "
            f"{fold['blend']:.3f} on the other "
            f"(dense {fold['dense']:.3f}, BM25 {fold['sparse']:.3f})"
        )
    out = ROOT / "reports" / f"sweep_fusion-{args.dataset}-{Path(args.embedder).name}.json"
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
