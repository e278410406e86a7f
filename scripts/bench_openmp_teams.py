"""A query's embedding while another thread of the process keeps an OpenMP team.

    .venv/bin/python scripts/bench_openmp_teams.py [--queries 60] [--repeats 3] [--http]
        [--out reports/bench_openmp_teams.json]

Torch's OpenMP runtime (libgomp) keeps a team of threads for every thread that ran
parallel work, until that thread ends. Once the process holds more such threads than
there are cores, libgomp stops spinning between parallel regions and puts each helper
to sleep instead; a small call (one query through MiniLM, dozens of short regions) then
pays a wake-up per region. Each scenario runs in a fresh process, interleaved, with the
MiniLM embedder loaded (and warmed up) on the main thread:

  alone       queries on the main thread, nothing else has run torch
  lingering   first, another thread embeds 16 passages and stays alive (as the
              ingestion worker thread did once it had run one upload)
  ended       the same thread embeds and ends (as each ingestion job's thread now does)

Queries are COVID-QA questions (../shared/data/covidqa), each new to the query cache.
With --http: `qa serve` on a collection of 30 COVID-QA articles, `POST /v1/search`
medians before and after an upload job into that collection, in the same server.
Prints medians and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SCENARIOS = ("alone", "lingering", "ended")


def questions(count: int) -> list[str]:
    data = json.loads((DATA / "covidqa" / "200423_covidQA.json").read_text())["data"]
    found = [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]]
    return found[:: max(1, len(found) // count)][:count]


def worker(scenario: str, queries: list[str], tag: str) -> dict[str, Any]:
    from qa.models.embedders import load_embedder

    embedder = load_embedder("minilm")
    embedded, release = threading.Event(), threading.Event()

    def embed_passages() -> None:
        embedder.embed_passages(
            [f"Passage {n} about masks and ventilation. " * 20 for n in range(16)]
        )
        embedded.set()
        if scenario == "lingering":
            release.wait()

    other = threading.Thread(target=embed_passages)
    if scenario != "alone":
        other.start()
        embedded.wait()
        if scenario == "ended":
            other.join()
    times = []
    for query in queries:
        started = time.perf_counter()
        embedder.embed_queries([f"{tag} {query}"])
        times.append((time.perf_counter() - started) * 1000)
    release.set()
    if scenario != "alone":
        other.join()
    return {"scenario": scenario, "query_ms": statistics.median(times)}


def http(queries: list[str]) -> dict[str, Any]:
    """Search medians over loopback before and after one upload job, in one server."""
    from bench_ingest import covidqa_documents
    from bench_peers import serving

    from qa.models.embedders import load_embedder
    from qa.runtime import Runtime
    from qa.settings import Settings

    half = len(queries) // 2
    with tempfile.TemporaryDirectory(prefix="bench-omp-") as tmp:
        runtime = Runtime(Settings(index_dir=Path(tmp), embedder="minilm"))
        runtime.add_embedder(load_embedder("minilm"))
        runtime.ingest_documents(covidqa_documents()[:30], "bench", progress=False)
        with serving(Path(tmp), threads=0) as client:

            def searches(batch: list[str]) -> float:
                times = []
                for query in batch:
                    started = time.perf_counter()
                    body = {"query": query, "collection": "bench", "k": 10}
                    client.post("/v1/search", json=body).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
                return statistics.median(times)

            searches([f"warm-up {q}" for q in queries[:5]])
            before = searches(queries[:half])
            text = "A record about ventilation and masks in hospital wards. " * 30
            records = [{"id": f"upload-{n}", "text": f"{text} {n}"} for n in range(40)]
            job = client.post("/v1/collections/bench/documents", json={"records": records})
            job.raise_for_status()
            status = f"/v1/jobs/{job.json()['id']}"
            while client.get(status).json()["status"] not in ("done", "failed"):
                time.sleep(0.2)
            after = searches(queries[half:])
    return {"search_ms_before_upload": before, "search_ms_after_upload": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--http", action="store_true", help="also search over HTTP around an upload"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_openmp_teams.json")
    parser.add_argument("--worker", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    queries = questions(args.queries)
    if args.worker:
        print(json.dumps(worker(args.worker, queries, args.tag)))
        return
    runs: dict[str, list[float]] = {s: [] for s in SCENARIOS}
    count = ["--queries", str(args.queries)]
    for repeat in range(args.repeats):
        for scenario in SCENARIOS:
            done = subprocess.run(
                [sys.executable, __file__, "--worker", scenario, "--tag", f"r{repeat}", *count],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            runs[scenario].append(json.loads(done.stdout.strip().splitlines()[-1])["query_ms"])
            print(f"repeat {repeat + 1} {scenario:9} {runs[scenario][-1]:.2f} ms", flush=True)
    result: dict[str, Any] = {
        "queries": args.queries,
        "repeats": args.repeats,
        "query_ms": {s: statistics.median(v) for s, v in runs.items()},
        "runs": runs,
    }
    for scenario, value in result["query_ms"].items():
        print(f"{scenario:9} median of medians {value:.2f} ms a query")
    if args.http:
        sys.path.insert(0, str(ROOT / "scripts"))
        result["http"] = http(queries)
        print(
            f"over HTTP: search {result['http']['search_ms_before_upload']:.2f} ms before an "
            f"upload job, {result['http']['search_ms_after_upload']:.2f} ms after"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
