"""Dense index at scale: build time, memory, search latency and recall@10, per index type.

    .venv/bin/python scripts/bench_scale.py [--sizes 10000 100000 1000000]
        [--kinds flat hnsw] [--ef-search 128 256 512] [--queries 200]

Vectors are clustered synthetic ones of dimension --dim (384, MiniLM's), never pure
Gaussian noise: --topics topic centres, each with --subtopics sub-centres around it,
each vector a sub-centre plus noise, all unit length, so that near neighbours are a
structured minority as with real embeddings (cosine to the nearest neighbour about
0.8-0.9, to a random vector about 0). Queries come from the same distribution and
are not in the index. The index is the project's own `qa.store.faiss.dense.FaissIndex`
(IndexIDMap2 over IndexFlatIP or IndexHNSWFlat, M / efConstruction from the
settings or flags, one FAISS thread as in production), filled in batches of 50,000.

Per size and kind: build time (adding all vectors; HNSW builds its graph as it
goes), bytes of the saved index file (FAISS keeps the same layout in memory: the
vectors, plus the graph's links for HNSW), the process's resident memory after the
build (all vectors of that size, the exact ground truth and the index included),
single-query `FaissIndex.search` latency (median and p95, k=10)
and recall@10 against exact search (IndexFlatIP over the same vectors). HNSW is
searched at each --ef-search. Prints a table and writes reports/bench_scale.json.
A 1M-vector run needs about 4 GB of memory and, on 2 cores, several minutes for
the HNSW graph.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
K = 10
BATCH = 50_000
Matrix = npt.NDArray[np.float32]


class Clustered:
    """A reproducible mixture: topics, sub-topics around each, vectors around those.

    Real sentence embeddings vary along few directions within a topic (a low intrinsic
    dimension), so each topic gets its own random --intrinsic-dimensional subspace:
    a vector is its sub-topic centre plus Gaussian variation in that subspace plus a
    little isotropic noise."""

    def __init__(self, dim: int, topics: int, subtopics: int, intrinsic: int) -> None:
        rng = np.random.default_rng(0)
        topic = _unit(rng.standard_normal((topics, dim), dtype=np.float32))
        spread = _unit(rng.standard_normal((topics, subtopics, dim), dtype=np.float32))
        self.centres = _unit((topic[:, None, :] + 0.6 * spread).reshape(-1, dim))
        self.subtopics = subtopics
        bases = rng.standard_normal((topics, intrinsic, dim), dtype=np.float32)
        self.bases = bases / np.sqrt(dim)
        self.dim = dim
        self.intrinsic = intrinsic

    def sample(self, count: int, seed: int) -> Matrix:
        rng = np.random.default_rng(seed)
        which = rng.integers(0, len(self.centres), count)
        coords = rng.standard_normal((count, self.intrinsic), dtype=np.float32)
        local = np.einsum("ni,nid->nd", coords, self.bases[which // self.subtopics])
        noise = rng.standard_normal((count, self.dim), dtype=np.float32) / np.sqrt(self.dim)
        return _unit(self.centres[which] + 0.6 / np.sqrt(self.intrinsic) * local + 0.1 * noise)


def _unit(x: Matrix) -> Matrix:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=-1, keepdims=True), dtype=np.float32)


def rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def exact_top(vectors: Matrix, queries: Matrix) -> npt.NDArray[np.int64]:
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    _, ids = flat.search(queries, K)
    return ids.astype(np.int64)


def measure(index: Any, queries: Matrix, truth: npt.NDArray[np.int64]) -> dict[str, float]:
    for q in queries[:5]:
        index.search(q, K)
    times, hits = [], 0
    for q, want in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = index.search(q, K)
        times.append(1000 * (time.perf_counter() - started))
        hits += len({i for i, _ in found} & set(want.tolist()))
    times.sort()
    return {
        "recall_at_10": round(hits / (K * len(queries)), 4),
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", choices=["flat", "hnsw"], default=["flat", "hnsw"])
    parser.add_argument("--ef-search", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--subtopics", type=int, default=20)
    parser.add_argument(
        "--intrinsic", type=int, default=24, help="dimensions of variation within a topic [24]"
    )
    parser.add_argument("--hnsw-m", type=int, help="[default: the setting, QA_HNSW_M]")
    parser.add_argument("--hnsw-ef-construction", type=int, help="[default: the setting]")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_scale.json")
    args = parser.parse_args()

    from qa.settings import Settings
    from qa.store.faiss.dense import DensePolicy, FaissIndex

    policy = DensePolicy.from_settings(Settings())
    if args.hnsw_m:
        policy = dataclasses.replace(policy, hnsw_m=args.hnsw_m)
    if args.hnsw_ef_construction:
        policy = dataclasses.replace(policy, hnsw_ef_construction=args.hnsw_ef_construction)
    mixture = Clustered(args.dim, args.topics, args.subtopics, args.intrinsic)
    queries = mixture.sample(args.queries, seed=10_000)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        vectors = np.concatenate(
            [mixture.sample(min(BATCH, size - s), seed=s + 1) for s in range(0, size, BATCH)]
        )
        truth = exact_top(vectors, queries)
        nearest = float(np.median(np.sort(queries @ vectors[:100_000].T, axis=1)[:, -1]))
        for kind in args.kinds:
            gc.collect()
            index = FaissIndex.empty(args.dim, policy, kind)
            started = time.perf_counter()
            for s in tqdm(range(0, size, BATCH), desc=f"{kind} {size:,}", unit="batch"):
                chunk = vectors[s : s + BATCH]
                index.add(list(range(s, s + len(chunk))), chunk)
            build_s = time.perf_counter() - started
            memory = rss()
            with tempfile.TemporaryDirectory() as tmp:
                file_bytes = index.save(Path(tmp)).stat().st_size
            settings_ef = [policy.hnsw_ef_search] if kind == "flat" else args.ef_search
            for ef in settings_ef:
                searched = FaissIndex(index._index, dataclasses.replace(policy, hnsw_ef_search=ef))
                row = {
                    "vectors": size,
                    "kind": kind,
                    "ef_search": ef if kind == "hnsw" else None,
                    "m": policy.hnsw_m if kind == "hnsw" else None,
                    "ef_construction": policy.hnsw_ef_construction if kind == "hnsw" else None,
                    "build_s": round(build_s, 2),
                    "process_rss_mb": round(memory / 2**20),
                    "file_mb": round(file_bytes / 2**20),
                    "nearest_cosine_median": round(nearest, 3),
                    **measure(searched, queries, truth),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
            del index, searched
        del vectors

    print()
    print(f"dimension {args.dim}, {args.queries} queries, k={K}, one FAISS thread; load "
          f"average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")  # fmt: skip
    columns = "vectors|index|efSearch|build s|process RSS MB|index MB|recall@10|median ms|p95 ms"
    print("| " + " | ".join(columns.split("|")) + " |")
    print("|---" * 9 + "|")
    for r in rows:
        cells = [f"{r['vectors']:,}", r["kind"], r["ef_search"] or "", r["build_s"]]
        cells += [r["process_rss_mb"], r["file_mb"], f"{r['recall_at_10']:.3f}"]
        print("| " + " | ".join(map(str, [*cells, r["median_ms"], r["p95_ms"]])) + " |")
    report = {
        "dimension": args.dim,
        "queries": args.queries,
        "topics": args.topics,
        "subtopics": args.subtopics,
        "intrinsic": args.intrinsic,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
