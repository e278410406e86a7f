"""Embedding through remote engines: chunks/s of one fixed corpus embedded by this
process's own MiniLM, then by 1, 2 and 4 `qa serve` processes on loopback serving
POST /v1/embeddings (QA_EMBEDDER_URL listing them, the batches spread across them).

    .venv/bin/python scripts/bench_remote_embed.py [--passages 300] [--repeats 3]
        [--servers 1 2 4] [--server-threads 1] [--batch 32] [--concurrency 1] [--ingest]

Corpus: the first --passages gold passages of ClapNQ dev (../shared/data/clapnq,
answerable then unanswerable questions' passages, read-only; 600 in all), one document
each.

By default a run embeds the same chunk texts (the corpus chunked once, as a local
MiniLM ingestion chunks it) with `embed_passages`: the stage that moves to the engines,
measured alone. With --ingest a run is a full ingestion instead (`Runtime.ingest_documents`:
chunking, embedding, docstore, FAISS, BM25, manifest, publish, into a fresh temporary
index), what `qa ingest` does; a remote embedder counts tokens with an estimate that
errs high, so its chunks are smaller and more numerous than the local model's, and the
table gives passages/s beside chunks/s. The servers start once, before timing, each with
--server-threads torch threads (a replica is that much hardware) and MiniLM loaded;
each variant gets one warm-up request per server. Variants run interleaved, one
ingestion each per repeat, so that load from other jobs hits them alike; figures are
medians. On a machine with C cores, servers x threads past C cannot add speed: the
curve shows the shape (how much the protocol costs, whether the batches spread), not
a GPU pool's figures. Prints a table and writes reports/bench_remote_embed.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CLAPNQ = ROOT.parent / "shared" / "data" / "clapnq"
MODEL = "minilm"


def clapnq_documents(count: int) -> list[Any]:
    from qa.records import Document

    documents = []
    for name in ("clapnq_dev_answerable.jsonl", "clapnq_dev_unanswerable.jsonl"):
        for line in (CLAPNQ / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for n, passage in enumerate(row["passages"]):
                documents.append(
                    Document(id=f"{row['id']}-{n}", text=passage["text"], title=passage["title"])
                )
    return documents[:count]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedding_servers(count: int, threads: int, folder: Path) -> Iterator[list[str]]:
    """`qa serve` children on loopback with MiniLM loaded; their /v1 base URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    # The generator is remote and never called: nothing to load but MiniLM.
    env.update(
        QA_EMBEDDER=MODEL,
        QA_THREADS=str(threads),
        QA_GENERATOR_URL="http://127.0.0.1:9",
        QA_GENERATOR_MODEL="none",
        QA_AUDIT="false",
    )
    children: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for n in range(count):
            port = free_port()
            command = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
            command += ["--index-dir", str(folder / f"index-{n}")]
            with (folder / f"server-{n}.log").open("wb") as log:
                child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            children.append(child)
            urls.append(f"http://127.0.0.1:{port}")
        for child, url in zip(children, urls, strict=True):
            wait_ready(child, url)
        yield [f"{url}/v1" for url in urls]
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)


def wait_ready(child: subprocess.Popen[bytes], url: str, within_s: float = 300) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"qa serve at {url} exited with {child.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"qa serve at {url} was not ready within {within_s:g} s")


def warm_up(urls: Sequence[str]) -> None:
    for url in urls:
        body = {"model": MODEL, "input": ["warm up"]}
        httpx.post(f"{url}/embeddings", json=body, timeout=60).raise_for_status()


def chunk_texts(embedder: Any, documents: Sequence[Any]) -> list[str]:
    from qa.ingest.chunking import ChunkerConfig
    from qa.ingest.embedding import embedding_text
    from qa.ingest.pipeline import chunker_for
    from qa.settings import Settings

    settings = Settings()
    config = ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_tokens)
    chunker = chunker_for(embedder, config)
    return [embedding_text(d, c) for d in documents for c in chunker.run(d)]


def embed_once(texts: Sequence[str], settings: Any, local: Any | None) -> tuple[float, int]:
    from qa.models.embedders import load_remote_embedder

    embedder = local if local is not None else load_remote_embedder(settings)
    dimension = embedder.info["dimension"]  # the remote probe, outside the timed part
    started = time.perf_counter()
    vectors = embedder.embed_passages(texts)
    seconds = time.perf_counter() - started
    assert vectors.shape == (len(texts), dimension), vectors.shape
    return seconds, len(vectors)


def ingest_once(documents: Sequence[Any], settings: Any, local: Any | None) -> tuple[float, int]:
    from qa.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        runtime = Runtime(settings.model_copy(update={"index_dir": Path(tmp)}))
        if local is not None:
            runtime.add_embedder(local)
        started = time.perf_counter()
        report = runtime.ingest_documents(documents, "bench", embedder=MODEL, progress=False)
        return time.perf_counter() - started, report.chunks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=300, help="ClapNQ passages [300]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--server-threads", type=int, default=1, help="torch threads a server")
    parser.add_argument("--batch", type=int, default=32, help="QA_REMOTE_EMBED_BATCH [32]")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="QA_REMOTE_EMBED_CONCURRENCY, per URL [1]"
    )
    parser.add_argument("--ingest", action="store_true", help="time whole ingestions")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_remote_embed.json")
    args = parser.parse_args()

    from tqdm import tqdm

    from qa.runtime import Runtime
    from qa.settings import Settings

    documents = clapnq_documents(args.passages)
    base = Settings(embedder=MODEL, audit=False)
    local = Runtime(base).local_embedder(MODEL)
    local.embed_passages(["warm up"])
    texts = chunk_texts(local, documents)
    variants: dict[str, Settings] = {"local": base}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-remote-servers-") as folder:
        started = time.perf_counter()
        with embedding_servers(max(args.servers), args.server_threads, Path(folder)) as urls:
            start_s = time.perf_counter() - started
            for count in args.servers:
                remote = base.model_copy(
                    update={
                        "embedder_url": urls[:count],
                        "embedder_model": MODEL,
                        "remote_embed_batch": args.batch,
                        "remote_embed_concurrency": args.concurrency,
                    }
                )
                variants[f"{count} server{'s' if count > 1 else ''}"] = remote
            runs: dict[str, list[tuple[float, int]]] = {name: [] for name in variants}
            total = args.repeats * len(variants)
            with tqdm(total=total, desc="ingesting", unit="run") as bar:
                for _ in range(args.repeats):
                    for name, settings in variants.items():
                        if settings.embedder_url:
                            warm_up(settings.embedder_urls)
                        embedder = None if settings.embedder_url else local
                        if args.ingest:
                            runs[name].append(ingest_once(documents, settings, embedder))
                        else:
                            runs[name].append(embed_once(texts, settings, embedder))
                        bar.update(1)

    rows: list[dict[str, Any]] = []
    for name, timed in runs.items():
        seconds = statistics.median(s for s, _ in timed)
        chunks = timed[0][1]
        rows.append(
            {
                "variant": name,
                "chunks": chunks,
                "seconds_median": round(seconds, 2),
                "seconds_runs": [round(s, 2) for s, _ in timed],
                "chunks_per_s": round(chunks / seconds, 1),
                "passages_per_s": round(len(documents) / seconds, 1),
            }
        )
    for row in rows:
        row["vs_local"] = round(row["passages_per_s"] / rows[0]["passages_per_s"], 2)
    result = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "timed": "ingestion" if args.ingest else "embed_passages",
        "passages": len(documents),
        "characters": sum(len(d.text) for d in documents),
        "cores": os.cpu_count(),
        "server_threads": args.server_threads,
        "batch": args.batch,
        "concurrency_per_url": args.concurrency,
        "servers_start_s": round(start_s, 1),
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n{len(documents)} passages, {result['characters']:,} characters, "
        f"{result['cores']} cores; servers: "
        f"{args.server_threads} torch thread(s) each, batch {args.batch}, {args.concurrency} "
        f"in flight per URL; load average {load_before[0]:.1f} before, "
        f"{result['load_average_after']:.1f} after"
    )
    what = "ingest" if args.ingest else "embed"
    print(f"| embedder | chunks | {what} s (median) | runs | chunks/s | passages/s | vs local |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        runs_s = ", ".join(f"{s:.1f}" for s in row["seconds_runs"])
        print(
            f"| {row['variant']} | {row['chunks']} | {row['seconds_median']:.1f} | {runs_s} | "
            f"{row['chunks_per_s']:.1f} | {row['passages_per_s']:.1f} | {row['vs_local']:.2f}x |"
        )
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
