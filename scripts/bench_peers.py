"""The same corpus and queries through qa, LangChain and LlamaIndex, side by side.

    .venv/bin/python scripts/bench_peers.py [--documents 120] [--queries 100] [--repeats 3]

Peers, each installed on first use into its own virtual environment under
reports/peers/ (torch pinned to the version of this environment, so that pip never
pulls another one; ~1.5 GB each):
  langchain   langchain-community (FAISS vector store) + langchain-huggingface
              (HuggingFaceEmbeddings, i.e. sentence-transformers) + faiss-cpu
  llamaindex  llama-index-core (VectorStoreIndex) + llama-index-vector-stores-faiss +
              llama-index-embeddings-huggingface (HuggingFaceEmbedding) + faiss-cpu

Fairness: all three load the same local MiniLM folder
(`qa.models.embedders.embedder_folder("minilm")`), embed with batch size
--batch-size, normalise vectors, use an exact inner-product FAISS index, run with
--threads torch threads and one FAISS thread, and HF_HUB_OFFLINE=1. The corpus is
chunked once by qa's chunker (scripts/bench_ingest.py's default corpus, or
--corpus); the peers are given those exact chunk texts (title and section line
included, as qa embeds them), so every side embeds the same strings.

What each timing includes:
  ingest  qa: `Runtime.ingest_documents` on the documents: chunking, embedding,
          SQLite docstore, FAISS, BM25 build, manifest, fsync and atomic publish.
          LangChain: `FAISS.from_texts` (embedding + FAISS + in-memory docstore).
          LlamaIndex: `VectorStoreIndex(nodes)` on pre-built TextNodes (embedding +
          FAISS + in-memory docstore). The peers do less work (no chunking, no
          keyword index, nothing written to disk).
  search  qa: `Retriever.search`, hybrid (query embedding, dense and BM25, score
          blend, docstore fetch) and dense only; LangChain: `similarity_search`;
          LlamaIndex: `retriever.retrieve`. k=10, one query at a time, after 5
          warm-up queries. Queries are COVID-QA questions, each asked once
          (qa's query cache never hits); `--repeat-queries` asks them all a second
          time and reports that pass apart.
Model loading is timed apart and not in either figure. Each side runs in a fresh
process; sides are interleaved in each repeat, medians over repeats are reported,
and ratios are qa's time over the peer's (below 1: qa faster). Prints a table and
writes reports/bench_peers.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PEERS = {
    "langchain": ["langchain-community", "langchain-huggingface", "sentence-transformers"],
    "llamaindex": [
        "llama-index-core",
        "llama-index-vector-stores-faiss",
        "llama-index-embeddings-huggingface",
    ],
}


# ---------------------------------------------------------------- workers (any venv)


def _configure(threads: int) -> None:
    import faiss
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    faiss.omp_set_num_threads(1)


def _search_times(search: Any, queries: list[str], warm: int = 5) -> list[float]:
    for q in queries[:warm]:
        search(q)
    times = []
    for q in queries:
        started = time.perf_counter()
        search(q)
        times.append(1000 * (time.perf_counter() - started))
    return times


def worker_langchain(work: dict[str, Any]) -> dict[str, Any]:
    _configure(work["threads"])
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_huggingface import HuggingFaceEmbeddings

    started = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(
        model_name=work["model"],
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"batch_size": work["batch_size"], "normalize_embeddings": True},
    )
    load_s = time.perf_counter() - started
    chunks = work["chunks"]
    started = time.perf_counter()
    store = FAISS.from_texts(
        [c["text"] for c in chunks],
        embeddings,
        metadatas=[{"document": c["document"]} for c in chunks],
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )
    ingest_s = time.perf_counter() - started

    def search(q: str) -> Any:
        return store.similarity_search(q, k=work["k"])

    result = {"load_s": load_s, "ingest_s": ingest_s, "chunks": int(store.index.ntotal)}
    result["search_ms"] = _search_times(search, work["queries"])
    if work["repeat_queries"]:
        result["search_repeat_ms"] = _search_times(search, work["queries"], warm=0)
    return result


def worker_llamaindex(work: dict[str, Any]) -> dict[str, Any]:
    _configure(work["threads"])
    import faiss
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.faiss import FaissVectorStore

    started = time.perf_counter()
    embedding = HuggingFaceEmbedding(
        model_name=work["model"],
        embed_batch_size=work["batch_size"],
        device="cpu",
        normalize=True,
        local_files_only=True,
    )
    load_s = time.perf_counter() - started
    chunks = work["chunks"]
    nodes = [TextNode(text=c["text"], id_=c["id"]) for c in chunks]
    started = time.perf_counter()
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(work["dimension"]))
    index = VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embedding,
        show_progress=False,
    )
    ingest_s = time.perf_counter() - started
    retriever = index.as_retriever(similarity_top_k=work["k"])

    def search(q: str) -> Any:
        return retriever.retrieve(q)

    result = {"load_s": load_s, "ingest_s": ingest_s, "chunks": int(store._faiss_index.ntotal)}
    result["search_ms"] = _search_times(search, work["queries"])
    if work["repeat_queries"]:
        result["search_repeat_ms"] = _search_times(search, work["queries"], warm=0)
    return result


def worker_qa(work: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    from qa.models.embedders import load_embedder
    from qa.records import Document, SearchRequest
    from qa.retrieval.search import Retriever
    from qa.runtime import Runtime, configure_threads
    from qa.settings import Settings

    configure_threads(work["threads"])
    _configure(work["threads"])
    documents = [Document(**d) for d in work["documents"]]
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        settings = Settings(index_dir=Path(tmp), embedder="minilm", threads=work["threads"])
        runtime = Runtime(settings)
        started = time.perf_counter()
        runtime.add_embedder(load_embedder("minilm", batch_size=work["batch_size"]))
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        report = runtime.ingest_documents(documents, "bench", embedder="minilm", progress=False)
        ingest_s = time.perf_counter() - started
        retriever = Retriever(runtime)
        result: dict[str, Any] = {"load_s": load_s, "ingest_s": ingest_s, "chunks": report.chunks}
        for mode in ("hybrid", "dense"):
            embedder: Any = runtime.embedder("minilm")
            embedder.query_cache.clear()  # every query cold: none was asked before

            def search(q: str, mode: Any = mode) -> Any:
                return retriever.search(SearchRequest(q, "bench", work["k"], mode=mode))

            key = "search_ms" if mode == "hybrid" else "search_dense_ms"
            result[key] = _search_times(search, work["queries"])
            if work["repeat_queries"] and mode == "hybrid":
                result["search_repeat_ms"] = _search_times(search, work["queries"], warm=0)
        if work["http"]:
            result["search_http_ms"] = _http_search_times(Path(tmp), work)
    return result


@contextlib.contextmanager
def serving(index_dir: Path, threads: int) -> Iterator[Any]:
    """`qa serve` in its own process on ``index_dir``, and an httpx client kept alive
    against it once it is ready; the server stops on exit."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(
        os.environ,
        QA_INDEX_DIR=str(index_dir),
        QA_GENERATOR="tiny",  # loaded at start; the smallest keeps start-up short
        QA_THREADS=str(threads),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("qa serve did not become ready")
                time.sleep(0.5)
            yield client
    finally:
        server.terminate()
        server.wait(timeout=30)


def _http_search_times(index_dir: Path, work: dict[str, Any]) -> list[float]:
    """The same queries as a user of the service sends them: `qa serve` in its own
    process on the collection just built, POST /v1/search over loopback with a
    kept-alive connection, the server's query cache cold (a new process)."""
    with serving(index_dir, work["threads"]) as client:

        def search(q: str) -> Any:
            body = {"query": q, "collection": "bench", "k": work["k"]}
            client.post("/v1/search", json=body).raise_for_status()

        return _search_times(search, work["queries"])


WORKERS = {"qa": worker_qa, "langchain": worker_langchain, "llamaindex": worker_llamaindex}


# ---------------------------------------------------------------- driver (qa's venv)


def peer_python(peer: str, venvs: Path) -> Path:
    """The peer's interpreter, creating its venv and installing it on first use."""
    venv = venvs / peer
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.is_file():
        return python
    import torch

    torch_pin = f"torch=={torch.__version__.split('+')[0]}"
    print(f"installing {peer} into {venv} (a few minutes) ...", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", torch_pin, "faiss-cpu", *PEERS[peer]]
    subprocess.run(pip, check=True)
    marker.write_text(" ".join(pip[4:]) + "\n")
    return python


def build_work(args: argparse.Namespace) -> dict[str, Any]:
    from bench_ingest import load_corpus

    from qa.ingest.chunking import ChunkerConfig
    from qa.ingest.embedding import embedding_text
    from qa.ingest.pipeline import chunker_for
    from qa.models.embedders import embedder_folder, load_embedder
    from qa.settings import Settings

    documents = load_corpus(args.corpus, args.documents)
    embedder = load_embedder("minilm")
    settings = Settings()
    chunker = chunker_for(
        embedder, ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_tokens)
    )
    chunks = [
        {"id": f"{d.id}#{i}", "document": d.id, "text": embedding_text(d, c)}
        for d in documents
        for i, c in enumerate(chunker.run(d))
    ]
    data = json.loads((DATA / "covidqa" / "200423_covidQA.json").read_text())["data"]
    questions = [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]]
    step = max(1, len(questions) // args.queries)
    return {
        "model": str(embedder_folder("minilm")[1]),
        "dimension": embedder.info["dimension"],
        "batch_size": args.batch_size,
        "threads": args.threads,
        "k": args.k,
        "repeat_queries": args.repeat_queries,
        "http": args.http,
        "documents": [
            {"id": d.id, "text": d.text, "title": d.title, "metadata": d.metadata}
            for d in documents
        ],
        "chunks": chunks,
        "queries": questions[::step][: args.queries],
    }


def run_side(side: str, python: Path, work_file: Path) -> dict[str, Any]:
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false"
    )
    done = subprocess.run(
        [str(python), __file__, "--worker", side, "--work", str(work_file)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def med(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        nargs="*",
        default=[],
        help="files or folders [default: licences + COVID-QA, as bench_ingest]",
    )
    parser.add_argument(
        "--documents", type=int, default=120, help="documents spread over the corpus; 0 = all [120]"
    )
    parser.add_argument("--queries", type=int, default=100, help="COVID-QA questions [100]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", nargs="+", choices=sorted(PEERS), default=sorted(PEERS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch threads, every side [2]")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--repeat-queries",
        action="store_true",
        help="ask every query a second time (qa's query cache then hits)",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="also time qa's search over loopback HTTP (qa serve, POST /v1/search)",
    )
    parser.add_argument("--venvs", type=Path, default=ROOT / "reports" / "peers")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_peers.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        work = json.loads(args.work.read_text())
        print(json.dumps(WORKERS[args.worker](work)))
        return

    from tqdm import tqdm

    pythons = {"qa": Path(sys.executable)}
    for peer in args.peers:
        pythons[peer] = peer_python(peer, args.venvs)
    work = build_work(args)
    args.venvs.mkdir(parents=True, exist_ok=True)
    work_file = args.venvs / "work.json"
    work_file.write_text(json.dumps(work))
    sides = ["qa", *args.peers]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    load_before = os.getloadavg()
    with tqdm(total=args.repeats * len(sides), desc="runs", unit="run") as bar:
        for _ in range(args.repeats):
            for side in sides:
                runs[side].append(run_side(side, pythons[side], work_file))
                bar.update(1)

    chunks = len(work["chunks"])
    rows: dict[str, dict[str, Any]] = {}
    for side in sides:
        ingest_s = med([r["ingest_s"] for r in runs[side]])
        searches = [t for r in runs[side] for t in r["search_ms"]]
        row = {
            "load_s": round(med([r["load_s"] for r in runs[side]]), 2),
            "ingest_s": round(ingest_s, 2),
            "ingest_s_runs": [round(r["ingest_s"], 2) for r in runs[side]],
            "chunks": runs[side][0]["chunks"],
            "chunks_per_s": round(chunks / ingest_s, 1),
            "search_median_ms": round(med(searches), 2),
            "search_p95_ms": round(p95(searches), 2),
            "search_median_ms_runs": [round(med(r["search_ms"]), 2) for r in runs[side]],
        }
        if "search_dense_ms" in runs[side][0]:
            dense = [t for r in runs[side] for t in r["search_dense_ms"]]
            row["search_dense_median_ms"] = round(med(dense), 2)
        if "search_http_ms" in runs[side][0]:
            http = [t for r in runs[side] for t in r["search_http_ms"]]
            row["search_http_median_ms"] = round(med(http), 2)
        if "search_repeat_ms" in runs[side][0]:
            again = [t for r in runs[side] for t in r["search_repeat_ms"]]
            row["search_repeat_median_ms"] = round(med(again), 2)
        rows[side] = row
    ours = rows["qa"]
    for peer in args.peers:
        rows[peer]["qa_chunks_per_s_ratio"] = round(
            ours["chunks_per_s"] / rows[peer]["chunks_per_s"], 2
        )
        rows[peer]["qa_search_time_ratio"] = round(
            ours["search_median_ms"] / rows[peer]["search_median_ms"], 2
        )
        if "search_http_median_ms" in ours:
            rows[peer]["qa_http_search_time_ratio"] = round(
                ours["search_http_median_ms"] / rows[peer]["search_median_ms"], 2
            )
        if "search_dense_median_ms" in ours:
            rows[peer]["qa_dense_search_time_ratio"] = round(
                ours["search_dense_median_ms"] / rows[peer]["search_median_ms"], 2
            )

    print()
    print(
        f"{len(work['documents'])} documents, {chunks:,} chunks, {len(work['queries'])} queries, "
        f"k={args.k}, batch {args.batch_size}, {args.threads} torch threads, {args.repeats} "
        f"repeats; load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    print(
        "| side | model load s | ingest s | chunks/s | qa chunks/s ÷ theirs | search median ms "
        "(p95) | qa search time ÷ theirs |"
    )
    print("|---" * 7 + "|")
    for side in sides:
        r = rows[side]
        search = f"{r['search_median_ms']} ({r['search_p95_ms']})"
        if side == "qa" and "search_dense_median_ms" in r:
            search += f"; dense only {r['search_dense_median_ms']}"
        if side == "qa" and "search_http_median_ms" in r:
            search += f"; over HTTP {r['search_http_median_ms']}"
        ratio_c = r.get("qa_chunks_per_s_ratio", "")
        ratio_s = r.get("qa_search_time_ratio", "")
        if "qa_dense_search_time_ratio" in r:
            ratio_s = f"{ratio_s} (dense only {r['qa_dense_search_time_ratio']})"
        if "qa_http_search_time_ratio" in r:
            ratio_s = f"{ratio_s} (qa over HTTP {r['qa_http_search_time_ratio']})"
        print(
            f"| {side} | {r['load_s']} | {r['ingest_s']} | {r['chunks_per_s']} | {ratio_c} | "
            f"{search} | {ratio_s} |"
        )
    report = {
        "documents": len(work["documents"]),
        "chunks": chunks,
        "queries": len(work["queries"]),
        "k": args.k,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "sides": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
