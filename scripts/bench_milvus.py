"""Ingestion throughput and search latency: FAISS against Milvus on the same data.

Documents go through the real ingest pipeline (chunking, the store's writer, publish)
with a model-free hashing embedder of MiniLM's dimension, so what is measured is the
store, not the model (MiniLM's own embedding rate is in docs/INDEX_LIFECYCLE.md).
Milvus runs as `milvus-lite server` on a loopback port: the network path a Milvus
cluster takes. Writes reports/bench_milvus.json.

    HF_HUB_OFFLINE=1 python scripts/bench_milvus.py --documents 2000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.ingest.chunking import ChunkerConfig  # noqa: E402
from qa.ingest.pipeline import Ingestor, IngestReport  # noqa: E402
from qa.records import Document, SearchRequest  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store.backend import Store, open_store  # noqa: E402
from tests.conftest import HashingEmbedder  # noqa: E402

WORDS = (
    "rent bond tenant lease tablet dose adult fever library loan book shelf river flood "
    "rain bridge court judge appeal nurse clinic vaccine harbour ship cargo pilot canal "
    "school teacher exam grade budget audit tax invoice engine valve pump sensor"
).split()


def corpus(n: int, seed: int = 3) -> list[Document]:
    rng = random.Random(seed)
    return [
        Document(
            id=f"doc{i:06d}",
            title=f"Note {i}",
            text=" ".join(rng.choices(WORDS, k=rng.randint(60, 220))) + ".",
            metadata={"group": i % 10},
        )
        for i in range(n)
    ]


def queries(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(WORDS, rng.randint(2, 5))) for _ in range(n)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(store: Store, docs: list[Document], qs: list[str], batch: int) -> dict[str, Any]:
    embedder = HashingEmbedder("hashing-384", 384)
    ingestor = Ingestor(store, embedder, ChunkerConfig(160, 32), max_file_bytes=10**9)  # type: ignore[arg-type]
    started = time.perf_counter()
    chunks = 0
    for start in range(0, len(docs), batch):
        report = IngestReport("bench")
        ingestor.run_documents(docs[start : start + batch], "bench", report, progress=False)
        chunks += report.chunks
    ingest_s = time.perf_counter() - started
    print(f"  ingested {len(docs)} documents in {ingest_s:.1f} s", flush=True)
    collection = store.open("bench")
    vectors = embedder.embed_queries(qs)
    result: dict[str, Any] = {
        "documents": len(docs),
        "chunks": chunks,
        "ingest_s": round(ingest_s, 2),
        "documents_per_s": round(len(docs) / ingest_s, 1),
        "chunks_per_s": round(chunks / ingest_s, 1),
    }
    for mode in ("dense", "sparse", "hybrid"):
        for filtered in (False, True):
            times = []
            for query, vector in zip(qs, vectors, strict=True):
                t = time.perf_counter()
                request = SearchRequest(
                    query,
                    k=10,
                    filters={"group": [1, 2]} if filtered else None,
                    mode=mode,  # type: ignore[arg-type]
                )
                collection.search(request, vector)
                times.append((time.perf_counter() - t) * 1000)
            name = f"{mode}{'_filtered' if filtered else ''}"
            result[f"search_{name}_ms"] = {
                "p50": round(statistics.median(times), 2),
                "p95": round(percentile(times, 0.95), 2),
            }
    started = time.perf_counter()
    collection = store.open("bench")
    result["open_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500, help="Documents per ingest call.")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_milvus.json")
    args = parser.parse_args()
    docs, qs = corpus(args.documents), queries(args.queries)
    work = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "corpus": f"{args.documents} synthetic documents of 60-220 words, 384-d hashing vectors",
        "queries": args.queries,
    }
    try:
        faiss = Settings(index_dir=work / "faiss", dense_index="flat")
        report["faiss"] = measure(open_store(faiss), docs, qs, args.batch)
        print("faiss", json.dumps(report["faiss"]), flush=True)
        port = free_port()
        log = (work / "milvus.log").open("w")
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "milvus_lite", "server"),
                *("--data-dir", str(work / "milvus"), "--host", "127.0.0.1", "--port", str(port)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(1)
            for kind in ("flat", "hnsw"):
                milvus = Settings(
                    index_dir=work / "m",
                    vector_backend="milvus",
                    milvus_uri=f"http://127.0.0.1:{port}",
                    milvus_namespace=f"bench_{kind}",
                    dense_index=kind,
                )
                for _ in range(100):
                    try:
                        store = open_store(milvus)
                        break
                    except Exception:
                        time.sleep(0.3)
                report[f"milvus_lite_server_{kind}"] = measure(store, docs, qs, args.batch)
                print(kind, json.dumps(report[f"milvus_lite_server_{kind}"]), flush=True)
        finally:
            server.terminate()
            server.wait(15)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
