"""Search and ask over HTTP: latency (median, p95) and throughput at concurrency 1, 4, 16;
time to first token and tokens/s for ask.

    .venv/bin/python scripts/bench_query.py [--url http://127.0.0.1:8000] [--collection default]
        [--search-requests 100] [--ask-requests 4] [--concurrency 1 4 16]

Without --url the script makes its own server: it ingests --documents documents of
scripts/bench_ingest.py's default corpus (licence texts + COVID-QA articles) into
reports/bench_query-index (once; reused while it exists), starts
`python -m qa serve --port P --index-dir reports/bench_query-index` on a free
port, waits for /readyz (models loaded) and stops the server at the end. The
generator is the QA_GENERATOR setting (default `fast`).

Queries are COVID-QA questions (for ask, with the own server: only those about the
COVID-QA articles in its index, so that ask has something to answer; a question the
index cannot answer is declined before generation and counted apart), each asked once
per concurrency level (levels use different questions where there are enough, so
the server's query cache does not hit across levels). search: `POST /v1/search`
with k=10; every level sends
--search-requests requests from that many client threads at once. ask: `POST /v1/ask`
with `"stream": true, "k": --ask-k`, --ask-requests questions per level; time to
first token is from sending the request to the first `token` event, tokens/s is the
answer's tokens (counted with the generator's tokenizer) over the time from the
first token to the last. The server generates one answer at a time
(QA_GENERATION_CONCURRENCY), so ask latency at concurrency c includes queueing,
and a queue longer than QA_GENERATION_QUEUE gets 503 (counted, not timed).
Prints a table and writes reports/bench_query.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def questions(articles: set[str] | None = None) -> list[str]:
    """COVID-QA questions, only those about the given articles (ids as in
    bench_ingest: covidqa/NNN) when a set is given, so that most have an answer."""
    data = json.loads((DATA / "covidqa" / "200423_covidQA.json").read_text())["data"]
    return [
        q["question"]
        for i, a in enumerate(data)
        if articles is None or f"covidqa/{i:03d}" in articles
        for p in a["paragraphs"]
        for q in p["qas"]
    ]


def indexed_articles(documents: int) -> set[str]:
    from bench_ingest import load_corpus

    return {d.id for d in load_corpus([], documents) if d.id.startswith("covidqa/")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_index(index_dir: Path, collection: str, documents: int) -> None:
    from bench_ingest import load_corpus

    from qa.runtime import Runtime
    from qa.settings import Settings

    runtime = Runtime(Settings(index_dir=index_dir, embedder="minilm"))
    if runtime.store.exists(collection):
        return
    print(f"ingesting {documents} documents into {index_dir} ...", flush=True)
    runtime.ingest_documents(load_corpus([], documents), collection, embedder="minilm")


def start_server(index_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (ROOT / "reports" / "bench_query-server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--port", str(port), "--index-dir", str(index_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    return server, f"http://127.0.0.1:{port}"


def wait_ready(url: str, timeout: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def one_search(client: httpx.Client, url: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = client.post(f"{url}/v1/search", json=body, timeout=120)
    response.raise_for_status()
    return 1000 * (time.perf_counter() - started)


def one_ask(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    first = last = None
    text: list[str] = []
    event = ""
    with client.stream("POST", f"{url}/v1/ask", json=body, timeout=600) as response:
        if response.status_code == 503:
            return {"status": 503}
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "token":
                now = time.perf_counter()
                first = first if first is not None else now
                last = now
                text.append(json.loads(line[5:])["text"])
    done = time.perf_counter()
    return {
        "status": 200,
        "total_s": done - started,
        "first_token_s": None if first is None else first - started,
        "decode_s": None if first is None or last is None else last - first,
        "text": "".join(text),
    }


def pctl(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def run_level(concurrency: int, jobs: list[Any], fn: Any) -> tuple[list[Any], float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        clients = [httpx.Client() for _ in range(concurrency)]
        futures = [pool.submit(fn, clients[i % concurrency], job) for i, job in enumerate(jobs)]
        results = [f.result() for f in futures]
        for c in clients:
            c.close()
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", help="a running server [default: start one]")
    parser.add_argument("--collection", default="default")
    parser.add_argument("--documents", type=int, default=60, help="for the own server [60]")
    parser.add_argument("--index-dir", type=Path, default=ROOT / "reports" / "bench_query-index")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--search-requests", type=int, default=100)
    parser.add_argument("--ask-requests", type=int, default=4, help="per level [4]")
    parser.add_argument("--ask-concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--ask-k", type=int, default=5, help="passages in the prompt [5]")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_query.json")
    args = parser.parse_args()

    server = None
    ready_s = None
    url = args.url
    if url is None:
        prepare_index(args.index_dir, args.collection, args.documents)
        server, url = start_server(args.index_dir)
    try:
        ready_s = wait_ready(url)
        print(f"server ready after {ready_s:.1f} s", flush=True)
        report = benchmark(url, args)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    report["ready_s"] = None if ready_s is None else round(ready_s, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


def benchmark(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    pool = questions()
    answerable = questions(None if args.url else indexed_articles(args.documents))
    load_before = os.getloadavg()
    with httpx.Client() as client:  # warm-up: models are loaded, but first calls set up
        for q in pool[-3:]:
            one_search(client, url, {"query": q, "collection": args.collection, "k": 10})
    rows: list[dict[str, Any]] = []
    offset = 0
    for level in tqdm(args.concurrency, desc="search levels"):
        picked = pool[offset : offset + args.search_requests]
        offset = (offset + args.search_requests) % max(1, len(pool) - args.search_requests)
        bodies = [{"query": q, "collection": args.collection, "k": 10} for q in picked]
        times, wall = run_level(level, bodies, lambda c, b: one_search(c, url, b))
        rows.append(
            {
                "route": "search",
                "concurrency": level,
                "requests": len(times),
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(pctl(times, 0.95), 1),
                "throughput_rps": round(len(times) / wall, 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    tokenizer = generator_tokenizer()
    ask_offset = 0
    for level in tqdm(args.ask_concurrency, desc="ask levels"):
        picked = answerable[ask_offset : ask_offset + args.ask_requests]
        ask_offset += args.ask_requests
        bodies = [
            {"question": q, "collection": args.collection, "k": args.ask_k, "stream": True}
            for q in picked
        ]
        results, wall = run_level(level, bodies, lambda c, b: one_ask(c, url, b))
        done = [r for r in results if r["status"] == 200 and r["first_token_s"] is not None]
        rates = []
        for r in done:
            tokens = len(tokenizer(r["text"], add_special_tokens=False)["input_ids"])
            if r["decode_s"] and tokens > 1:
                rates.append((tokens - 1) / r["decode_s"])
        ttft = [r["first_token_s"] for r in done]
        refused = sum(r["status"] == 200 and r["first_token_s"] is None for r in results)
        totals = [r["total_s"] for r in done]
        rows.append(
            {
                "route": "ask",
                "concurrency": level,
                "requests": len(results),
                "rejected_503": sum(r["status"] == 503 for r in results),
                "declined_without_generating": refused,
                "median_ms": round(1000 * statistics.median(totals), 1) if totals else None,
                "p95_ms": round(1000 * pctl(totals, 0.95), 1) if totals else None,
                "first_token_median_s": round(statistics.median(ttft), 2) if ttft else None,
                "first_token_p95_s": round(pctl(ttft, 0.95), 2) if ttft else None,
                "tokens_per_s_median": round(statistics.median(rates), 1) if rates else None,
                "throughput_rps": round(len(done) / wall, 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    print()
    print(
        f"server {url}, collection {args.collection!r}; load average before "
        f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    print(
        "| route | concurrency | requests | median ms | p95 ms | req/s | first token s "
        "(median / p95) | tokens/s |"
    )
    print("|---" * 8 + "|")
    for r in rows:
        first = ""
        if r["route"] == "ask" and r["first_token_median_s"] is not None:
            first = f"{r['first_token_median_s']} / {r['first_token_p95_s']}"
        print(
            f"| {r['route']} | {r['concurrency']} | {r['requests']} | {r['median_ms']} | "
            f"{r['p95_ms']} | {r['throughput_rps']} | {first} | "
            f"{r.get('tokens_per_s_median') or ''} |"
        )
    return {
        "url": url,
        "collection": args.collection,
        "ask_k": args.ask_k,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "rows": rows,
    }


def generator_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from qa.models.registry import generator_folder
    from qa.settings import Settings

    settings = Settings()
    folder = generator_folder(settings.generator, settings.cache_dir)
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


if __name__ == "__main__":
    main()
