"""nDCG@10 of each way to fuse dense and BM25 candidates, on one set and embedder.

    .venv/bin/python scripts/sweep_fusion.py med minilm [--limit N]

Indexes the set once, retrieves 50 dense and 50 BM25 candidates per query once,
then scores: dense only, BM25 only, reciprocal-rank fusion (k=60), and the
min-max score blend for several dense weights. This is how the default fusion
(docs/EVALUATION.md) was chosen. Writes reports/sweep_fusion-SET-EMBEDDER.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from qa.eval.datasets import load_dataset
from qa.eval.metrics import dedupe_ranking, summarize
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.fusion import SearchHit, blend, deduplicate, fuse

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 50
Fused = list[tuple[int, float, dict[str, float | int]]]
Ranked = list[tuple[int, float]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("dataset")
    parser.add_argument("embedder")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.5, 0.6, 0.7, 0.8])
    args = parser.parse_args()

    settings = Settings()
    dataset = load_dataset(args.dataset, settings.data_dir)
    queries = [q for q in dataset.queries if q.relevant][: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(settings.model_copy(update={"index_dir": Path(tmp)}))
        runtime.ingest_documents(dataset.documents, "sweep", embedder=args.embedder)
        collection = runtime.collection("sweep")
        vectors = runtime.embedder(args.embedder).embed_queries([q.text for q in queries])
        dense = [collection.dense.search(v, DEPTH) for v in vectors]
        sparse = [collection.sparse.search(q.text, DEPTH) for q in queries]

        def ndcg(method: Callable[[Ranked, Ranked], Fused]) -> float:
            rankings = []
            for query, d, s in zip(queries, dense, sparse, strict=True):
                fused = method(d, s)
                chunks = collection.docstore.chunks_by_row_ids(row for row, _, _ in fused)
                hits = [SearchHit(chunks[r], score, **v) for r, score, v in fused]  # type: ignore[arg-type]
                ranked = [h.chunk.document_id for h in deduplicate(hits, DEPTH)]
                rankings.append((dedupe_ranking(ranked), query.relevant))
            return round(summarize(rankings).ndcg10, 4)

        results = {
            "dense": ndcg(lambda d, s: fuse(d, [], DEPTH)),
            "sparse": ndcg(lambda d, s: fuse([], s, DEPTH)),
            "rrf": ndcg(lambda d, s: fuse(d, s, DEPTH)),
        }
        for alpha in args.alphas:
            results[f"blend-{alpha}"] = ndcg(lambda d, s, a=alpha: blend(d, s, DEPTH, a))  # type: ignore[misc]
        collection.close()
    print(json.dumps({"dataset": args.dataset, "embedder": args.embedder, "queries": len(queries),
                      "ndcg10": results}, indent=2))  # fmt: skip
    out = ROOT / "reports" / f"sweep_fusion-{args.dataset}-{args.embedder}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
