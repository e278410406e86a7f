"""Index lifecycle figures: incremental re-ingest, change, delete, rebuild, HNSW vs exact.

    .venv/bin/python scripts/bench_lifecycle.py [--documents 1000] [--sizes 10000,50000,100000]

Part 1, on the first --documents MEDLINE abstracts of ../shared/data/med, written out
as one .txt file each and ingested with MiniLM (model loaded before timing): first
ingest, re-ingest of the unchanged folder (in-process, and through the `qa ingest`
CLI, whose figure includes starting Python and loading the model), one file changed,
one file deleted (`--sync`), the BM25 build each publish pays, and `qa index rebuild`.

Part 2, HNSW against exact search on real MiniLM embeddings: the chunks of MED (from
part 1), COVID-QA and ClapNQ, and their real questions as queries. recall@10 against
the exact top 10 and single-query latency for a few HNSW settings; then, to see
where HNSW pays off, both indexes at the --sizes, reached by adding perturbed copies
of the real vectors (as scripts/bench_search.py does), with efSearch 128, 256 and
512 and the query embedding latency for scale. Near-copies make the exact top 10 a
tight cluster of almost equal scores, so recall there is a pessimistic figure.
Embeddings of part 2 are cached under $QA_CACHE_DIR/bench.

Prints the figures and writes reports/bench_lifecycle.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from qa.eval.datasets import load_dataset
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.embedding import embedding_text
from qa.ingest.pipeline import chunker_for
from qa.models.protocols import Embedder
from qa.rebuild import rebuild
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.faiss.dense import DensePolicy, FaissIndex
from qa.store.faiss.sparse import SparseIndex

ROOT = Path(__file__).resolve().parent.parent
K = 10
Matrix = npt.NDArray[np.float32]


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def lifecycle(settings: Settings, runtime: Runtime, documents: int) -> tuple[dict[str, Any], Any]:
    """Part 1; also returns the MED chunk vectors and texts for part 2."""
    med = load_dataset("med", settings.data_dir).documents[:documents]
    corpus = settings.index_dir.parent / "corpus"
    corpus.mkdir()
    for doc in med:
        (corpus / f"{doc.id}.txt").write_text(doc.text, encoding="utf-8")
    runtime.embedder("minilm")
    first, first_s = timed(runtime.ingest, [corpus], "bench", embedder="minilm")
    again, again_s = timed(runtime.ingest, [corpus], "bench", progress=False)
    assert not again.changed and len(again.unchanged) == len(med), "re-ingest must be a no-op"
    cli = [sys.executable, "-m", "qa", "ingest", str(corpus), "-c", "bench"]
    cli += ["--index-dir", str(settings.index_dir), "--json"]
    done, cli_s = timed(subprocess.run, cli, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["added"] == []
    store = runtime.store
    assert store.manifest("bench").generation == 1, "an unchanged re-ingest publishes nothing"

    changed = corpus / f"{med[0].id}.txt"
    changed.write_text(med[0].text + " A sentence added to change this abstract.")
    change, change_s = timed(runtime.ingest, [corpus], "bench", sync=True, progress=False)
    assert change.updated == [changed.name]
    (corpus / f"{med[1].id}.txt").unlink()
    delete, delete_s = timed(runtime.ingest, [corpus], "bench", sync=True, progress=False)
    assert delete.removed == [f"{med[1].id}.txt"]

    collection = store.open("bench")
    rows = list(collection.docstore.lexical_rows())
    _, sparse_s = timed(SparseIndex.build, rows)
    ids, vectors = collection.dense.live()
    texts = dict(rows)
    med_texts = [texts[int(i)] for i in ids]
    report, rebuild_s = timed(rebuild, runtime, "bench", progress=True)
    problems = store.verify("bench")
    assert not problems, problems
    figures = {
        "documents": len(med),
        "chunks": first.chunks,
        "first_ingest_s": round(first_s, 2),
        "reingest_unchanged_s": round(again_s, 3),
        "reingest_ratio": round(again_s / first_s, 4),
        "reingest_unchanged_cli_s": round(cli_s, 2),
        "reingest_cli_ratio": round(cli_s / first_s, 4),
        "change_one_document_s": round(change_s, 3),
        "delete_one_document_s": round(delete_s, 3),
        "bm25_build_s": round(sparse_s, 3),
        "rebuild_s": round(rebuild_s, 2),
        "rebuild_chunks": report.chunks,
    }
    return figures, (vectors, med_texts)


def cached_vectors(
    settings: Settings, embedder: Embedder, name: str, texts: list[str], *, query: bool = False
) -> Matrix:
    key = hashlib.sha256(
        "\x00".join([embedder.info["sha256"], str(query), *texts]).encode()
    ).hexdigest()[:16]
    path = settings.cache_dir / "bench" / f"{name}-{key}.npy"
    if path.is_file():
        return np.load(path)
    if query:
        vectors = embedder.embed_queries(texts)
    else:
        vectors = embedder.embed_passages(texts, progress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def real_set(
    settings: Settings, embedder: Embedder, med: tuple[Matrix, list[str]], queries: int
) -> tuple[Matrix, list[str], list[str], Matrix]:
    chunker = chunker_for(
        embedder, ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_tokens)
    )
    vectors, texts = [med[0]], list(med[1])
    questions: list[str] = list(q.text for q in load_dataset("med", settings.data_dir).queries)
    for name in ("covidqa", "clapnq"):
        data = load_dataset(name, settings.data_dir)
        chunk_texts = [embedding_text(d, c) for d in data.documents for c in chunker.run(d)]
        vectors.append(cached_vectors(settings, embedder, name, chunk_texts))
        texts += chunk_texts
        questions += [q.text for q in data.queries]
    rng = np.random.default_rng(0)
    picked = sorted(rng.choice(len(questions), size=min(queries, len(questions)), replace=False))
    query_texts = [questions[i] for i in picked]
    query_vectors = cached_vectors(settings, embedder, "questions", query_texts, query=True)
    return np.concatenate(vectors).astype(np.float32), texts, query_texts, query_vectors


def policy(index: str, m: int, ef_construction: int, ef_search: int) -> DensePolicy:
    return DensePolicy.from_settings(
        Settings(
            dense_index=index,  # type: ignore[arg-type]
            hnsw_m=m,
            hnsw_ef_construction=ef_construction,
            hnsw_ef_search=ef_search,
        )
    )


def build(vectors: Matrix, chosen: DensePolicy, kind: str) -> tuple[FaissIndex, float]:
    index = FaissIndex.empty(vectors.shape[1], chosen, kind)  # type: ignore[arg-type]
    _, seconds = timed(index.add, list(range(len(vectors))), vectors)
    return index, seconds


def searches(index: FaissIndex, queries: Matrix) -> tuple[list[list[int]], float]:
    """Top-10 ids per query and the median single-query latency in ms."""
    results, latencies = [], []
    for q in queries:
        started = time.perf_counter()
        hits = index.search(q, K)
        latencies.append(1000 * (time.perf_counter() - started))
        results.append([i for i, _ in hits])
    return results, statistics.median(latencies)


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return statistics.mean(len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True))


def hnsw_real(vectors: Matrix, queries: Matrix, folder: Path) -> list[dict[str, Any]]:
    flat, _ = build(vectors, policy("flat", 32, 64, 64), "flat")
    truth, flat_ms = searches(flat, queries)
    rows: list[dict[str, Any]] = [
        {"index": "flat", "vectors": len(vectors), "recall@10": 1.0, "median_ms": round(flat_ms, 3)}
    ]
    for m, ef_construction in ((16, 64), (32, 64), (32, 128)):
        graph, build_s = build(vectors, policy("hnsw", m, ef_construction, 64), "hnsw")
        saved = folder / f"hnsw-m{m}-efc{ef_construction}"
        saved.mkdir()
        graph.save(saved)
        for ef_search in (16, 32, 64, 128, 256, 512):
            # efSearch is a reader-side setting: the same file, opened as a server would.
            reader = FaissIndex.load(
                saved, policy("hnsw", m, ef_construction, ef_search), mmap=True
            )
            found, ms = searches(reader, queries)
            rows.append(
                {
                    "index": "hnsw",
                    "m": m,
                    "ef_construction": ef_construction,
                    "ef_search": ef_search,
                    "vectors": len(vectors),
                    "build_s": round(build_s, 2),
                    "recall@10": round(recall(found, truth), 4),
                    "median_ms": round(ms, 3),
                }
            )
    return rows


def augmented(vectors: Matrix, n: int, rng: np.random.Generator) -> Matrix:
    copies = [vectors]
    total = len(vectors)
    while total < n:
        noise = rng.normal(0, 0.02, vectors.shape).astype(np.float32)
        moved = vectors + noise
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        copies.append(moved)
        total += len(moved)
    return np.concatenate(copies)[:n].astype(np.float32)


def scale(
    vectors: Matrix, texts: list[str], queries: Matrix, sizes: list[int], defaults: Settings
) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    m, ef_construction = defaults.hnsw_m, defaults.hnsw_ef_construction
    chosen = policy("hnsw", m, ef_construction, defaults.hnsw_ef_search)
    for n in sizes:
        data = augmented(vectors, n, rng)
        flat, _ = build(data, chosen, "flat")
        truth, flat_ms = searches(flat, queries)
        graph, build_s = build(data, chosen, "hnsw")
        row: dict[str, Any] = {
            "vectors": n,
            "flat_median_ms": round(flat_ms, 3),
            "hnsw_build_s": round(build_s, 2),
        }
        with tempfile.TemporaryDirectory() as tmp:
            graph.save(Path(tmp))
            _, row["hnsw_load_s"] = timed(FaissIndex.load, Path(tmp), chosen)
            _, row["hnsw_mmap_load_s"] = timed(FaissIndex.load, Path(tmp), chosen, mmap=True)
            for ef_search in (128, 256, 512):
                reader = FaissIndex.load(
                    Path(tmp), policy("hnsw", m, ef_construction, ef_search), mmap=True
                )
                found, ms = searches(reader, queries)
                row[f"ef{ef_search}_recall@10"] = round(recall(found, truth), 4)
                row[f"ef{ef_search}_median_ms"] = round(ms, 3)
                del reader
        _, tombstone_s = timed(graph.remove, [0])
        row["hnsw_delete_one_ms"] = round(1000 * tombstone_s, 2)
        row["hnsw_load_s"] = round(row["hnsw_load_s"], 3)
        row["hnsw_mmap_load_s"] = round(row["hnsw_mmap_load_s"], 4)
        if n <= 100_000:
            repeated = [(i, texts[i % len(texts)]) for i in range(n)]
            _, row["bm25_build_s"] = timed(SparseIndex.build, repeated)
            row["bm25_build_s"] = round(row["bm25_build_s"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--sizes", default="10000,25000,50000,100000,200000")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    defaults = Settings()
    if not (defaults.data_dir / "med").is_dir():
        sys.exit(f"{defaults.data_dir / 'med'} is missing: the benchmark needs the shared data")

    tmp = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    try:
        settings = Settings(index_dir=tmp / "idx", embedder="minilm")
        runtime = Runtime(settings)
        part1, med = lifecycle(settings, runtime, args.documents)
        print(json.dumps(part1, indent=2), flush=True)
        embedder = runtime.embedder("minilm")
        vectors, texts, questions, queries = real_set(settings, embedder, med, args.queries)
        real = hnsw_real(vectors, queries, tmp)
        for row in real:
            print(json.dumps(row), flush=True)
        embed_ms = []
        for text in questions[:100]:
            started = time.perf_counter()
            embedder.embed_queries([text])
            embed_ms.append(1000 * (time.perf_counter() - started))
        sizes = [int(s) for s in args.sizes.split(",") if s]
        scaled = scale(vectors, texts, queries, sizes, defaults)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    report = {
        "lifecycle": part1,
        "hnsw_real": real,
        "real_vectors": len(vectors),
        "queries": len(queries),
        "query_embedding_median_ms": round(statistics.median(embed_ms), 2),
        "scale": scaled,
        # Where exact search starts to cost more than embedding the query: the point at
        # which a search's latency starts to be set by the index rather than the model.
        "flat_slower_than_query_embedding_at": next(
            (
                row["vectors"]
                for row in scaled
                if row["flat_median_ms"] > statistics.median(embed_ms)
            ),
            None,
        ),
        "settings": {
            "hnsw_m": defaults.hnsw_m,
            "hnsw_ef_construction": defaults.hnsw_ef_construction,
            "hnsw_ef_search": defaults.hnsw_ef_search,
        },
    }
    for key in (
        "real_vectors",
        "queries",
        "query_embedding_median_ms",
        "flat_slower_than_query_embedding_at",
    ):
        print(f"{key}: {report[key]}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_lifecycle.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
