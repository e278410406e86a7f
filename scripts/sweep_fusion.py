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

--versus OTHER (another embedder; its candidates are cached or built the same way)
picks the pair (embedder, weight) on one half and scores it on the other. The halves
depend only on the query count and --seed, so both embedders get the same halves.
Writes reports/sweep_fusion-SET-EMBEDDER.json (with --versus, also the per-half
nDCG@10 of every weight for both embedders and the pair picked).
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
        collection: Any = runtime.collection("sweep")  # the store reader, for its parts
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


def methods_for(alphas: Sequence[float]) -> dict[str, Method]:
    methods: dict[str, Method] = {
        "dense": lambda d, s: fuse(d, [], DEPTH),
        "sparse": lambda d, s: fuse([], s, DEPTH),
        "rrf": lambda d, s: fuse(d, s, DEPTH),
    }
    for alpha in alphas:
        methods[f"blend-{alpha}"] = lambda d, s, a=alpha: blend(d, s, DEPTH, a)  # type: ignore[misc]
    return methods


def per_half(
    cands: dict[str, Any], methods: dict[str, Method], halves: Sequence[Sequence[int]]
) -> list[dict[str, float]]:
    """nDCG@10 of every method on each half."""
    return [{n: round(score(cands, m, h).ndcg10, 4) for n, m in methods.items()} for h in halves]


def pair_held_out(
    tables: dict[str, list[dict[str, float]]], alphas: Sequence[float]
) -> list[dict[str, Any]]:
    """(embedder, weight) best on one half, and every embedder's own best, on the other."""
    folds = []
    for pick, test in ((0, 1), (1, 0)):
        pairs = [(e, a) for e in tables for a in alphas]
        embedder, alpha = max(pairs, key=lambda p: tables[p[0]][pick][f"blend-{p[1]}"])
        own = {}
        for e, t in tables.items():
            best = max(alphas, key=lambda a, t=t: t[pick][f"blend-{a}"])  # type: ignore[misc]
            own[e] = {"alpha": best, "ndcg10": t[test][f"blend-{best}"]}
        folds.append(
            {
                "picked_on": "AB"[pick],
                "scored_on": "AB"[test],
                "embedder": embedder,
                "alpha": alpha,
                "ndcg10": tables[embedder][test][f"blend-{alpha}"],
                "own_best": own,
            }
        )
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("dataset")
    parser.add_argument("embedder")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--versus", help="another embedder, for the pair held-out check")
    args = parser.parse_args()

    def cache(embedder: str) -> Path:
        return ROOT / "reports" / f"candidates-{args.dataset}-{Path(embedder).name}.pkl"

    cands = candidates(args.dataset, args.embedder, args.limit, cache(args.embedder))
    everything = range(len(cands["relevant"]))
    methods = methods_for(args.alphas)
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
    report: dict[str, Any] = {
        "dataset": args.dataset,
        "embedder": args.embedder,
        "queries": len(order),
        "results": results,
        "held_out": held_out,
    }
    if args.versus:
        other = candidates(args.dataset, args.versus, args.limit, cache(args.versus))
        if other["relevant"] != cands["relevant"]:
            raise SystemExit(f"{args.versus}'s cached queries differ from {args.embedder}'s")
        tables = {
            e: per_half(c, methods, halves)
            for e, c in ((args.embedder, cands), (args.versus, other))
        }
        report["halves_ndcg10"] = {e: dict(zip("AB", t, strict=True)) for e, t in tables.items()}
        report["pair_held_out"] = pair_held_out(tables, args.alphas)
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
    for fold in report.get("pair_held_out", []):
        own = ", ".join(
            f"{e} α {o['alpha']} {o['ndcg10']:.3f}" for e, o in fold["own_best"].items()
        )
        print(
            f"pair picked on half {fold['picked_on']}: {fold['embedder']} α {fold['alpha']}, "
            f"nDCG@10 {fold['ndcg10']:.3f} on half {fold['scored_on']} (each's own best: {own})"
        )
    out = ROOT / "reports" / f"sweep_fusion-{args.dataset}-{Path(args.embedder).name}.json"
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
