"""Search latency on a large collection: dense + BM25 + fusion + docstore, model warm.

    .venv/bin/python scripts/bench_search.py [--chunks 100000] [--queries 200]

The collection is built from real text (COVID-QA articles and CMRC 2018 paragraphs
from ../shared/data, chunked by the project's chunker) embedded with MiniLM; to
reach --chunks, chunks are repeated with their sentences rotated and their vectors
slightly perturbed, so the index holds realistic, clustered vectors rather than
noise. Queries are the sets' real questions. Prints median and p95 latency of
`Retriever.search` (query embedding included) and writes reports/bench_search.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.ingest.chunking import ChunkerConfig
from qa.ingest.embedding import embedding_text
from qa.ingest.pipeline import chunker_for
from qa.records import Document, SearchRequest
from qa.retrieval.search import Retriever
from qa.runtime import Runtime
from qa.settings import Settings
from qa.text import sentence_spans

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def squad_contexts(path: Path) -> tuple[list[Document], list[str]]:
    data = json.loads(path.read_text())["data"]
    docs: list[Document] = []
    questions: list[str] = []
    for i, article in enumerate(data):
        for j, paragraph in enumerate(article["paragraphs"]):
            docs.append(Document(id=f"{path.stem}-{i}-{j}", text=paragraph["context"],
                                 title=article.get("title", "")))  # fmt: skip
            questions.extend(q["question"] for q in paragraph["qas"])
    return docs, questions


def rotated(text: str, shift: int) -> str:
    spans = sentence_spans(text, 0, len(text))
    if len(spans) < 2:
        return text
    parts = [text[s:e] for s, e in spans]
    shift %= len(parts)
    return " ".join(parts[shift:] + parts[:shift])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()

    docs: list[Document] = []
    questions: list[str] = []
    for path in (DATA / "covidqa" / "200423_covidQA.json", DATA / "cmrc2018" / "cmrc2018_dev.json"):
        d, q = squad_contexts(path)
        docs += d
        questions += q

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(Settings(index_dir=Path(tmp), embedder="minilm"))
        embedder = runtime.embedder("minilm")
        chunker = chunker_for(embedder, ChunkerConfig(160, 32))
        base = [(doc, c) for doc in docs for c in chunker.run(doc)]
        started = time.perf_counter()
        vectors = embedder.embed_passages([embedding_text(d, c) for d, c in base], progress=True)
        embed_s = time.perf_counter() - started
        rng = np.random.default_rng(0)
        positions: dict[str, list[int]] = {}
        for i, (doc, _) in enumerate(base):
            positions.setdefault(doc.id, []).append(i)
        embedded_docs = [doc for doc in docs if doc.id in positions]
        store = runtime.store
        with store.writer("bench", embedder.info, chunker.config.as_dict()) as writer:
            total, copy = 0, 0
            with tqdm(total=args.chunks, desc="writing", unit="chunk") as bar:
                while total < args.chunks:
                    for doc in embedded_docs:
                        if total >= args.chunks:
                            break
                        variant = doc if copy == 0 else Document(
                            id=f"{doc.id}~{copy}", text=rotated(doc.text, copy), title=doc.title
                        )  # fmt: skip
                        new_chunks = chunker.run(variant)[: args.chunks - total]
                        picked = vectors[positions[doc.id][: len(new_chunks)]]
                        if len(picked) < len(new_chunks):
                            new_chunks = new_chunks[: len(picked)]
                        noise = rng.normal(0, 0.02, picked.shape).astype(np.float32) if copy else 0
                        moved = picked + noise
                        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
                        writer.put(variant, new_chunks, moved.astype(np.float32))
                        total += len(new_chunks)
                        bar.update(len(new_chunks))
                    copy += 1
        retriever = Retriever(runtime)
        sample = questions[:: max(1, len(questions) // args.queries)][: args.queries]
        for q in sample[:5]:
            retriever.search(SearchRequest(q, "bench", args.k))
        latencies = []
        for q in tqdm(sample, desc="searching", unit="query"):
            t = time.perf_counter()
            retriever.search(SearchRequest(q, "bench", args.k))
            latencies.append(1000 * (time.perf_counter() - t))
        manifest = store.manifest("bench")

    latencies.sort()
    report = {
        "chunks": manifest.chunks,
        "unique_chunks_embedded": len(base),
        "embedding_s": round(embed_s, 1),
        "queries": len(latencies),
        "k": args.k,
        "median_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
    }
    print(json.dumps(report, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_search.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
