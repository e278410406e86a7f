"""Search on a collection holding one long scan: what its OCR line boxes cost a hit.

    .venv/bin/python scripts/bench_scanned_search.py [--pages 300] [--queries 60]
        [--backend faiss|milvus]

A scanned document's metadata holds the box of every line OCR read (page fractions and
text offsets: about 1.7 KB a page of 40 lines), and a search result shows the boxes of
its passage's own lines. This builds a --pages page document of 40 numbered lines a page,
with boxes shaped as qa.ingest.ocr.layout writes them, ingests it with MiniLM (FAISS
under a temporary index dir, or Milvus Lite in a temporary .db), and times
`CollectionReader.search` (hybrid, k=10, the query vectors embedded beforehand) plus
shaping each hit as POST /v1/search does (`qa.views.result_dict`). Prints the median
and p95 and writes reports/bench_scanned_search.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor, IngestReport
from qa.records import Document, SearchRequest, Span
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.backend import open_store
from qa.views import result_dict

ROOT = Path(__file__).resolve().parent.parent
WORDS = "bond rent landlord tenant notice repair deposit lease term clause".split()
LINES = 40


def scan(pages: int) -> Document:
    lines: list[str] = []
    boxes: dict[str, list[list[float | int]]] = {}
    spans: list[Span] = []
    offset = 0
    for page in range(1, pages + 1):
        start = offset
        boxes[str(page)] = []
        for n in range(LINES):
            text = (
                f"{WORDS[(page * 7 + n) % 10]} {WORDS[(page + n * 3) % 10]}: line {n} of page "
                f"{page} says the {WORDS[n % 10]} rules apply."
            )
            top = round(0.05 + n * 0.022, 4)
            box = [0.1, top, 0.9, round(top + 0.016, 4), offset, offset + len(text)]
            boxes[str(page)].append(box)
            lines.append(text)
            offset += len(text) + 1
        spans.append(Span(start, offset - 1, str(page)))
    metadata = {"ocr": {"engine": "rapidocr", "boxes": boxes, "page_images": []}}
    return Document("scan.pdf", "\n".join(lines), "A long scan", metadata, pages=spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--backend", choices=("faiss", "milvus"), default="faiss")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_scanned_search.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    extra = {"milvus_uri": str(work / "milvus.db")} if args.backend == "milvus" else {}
    settings = Settings(index_dir=work / "idx", vector_backend=args.backend, **extra)
    embedder = Runtime(Settings(embedder="minilm")).embedder("minilm")
    store = open_store(settings)
    document = scan(args.pages)
    ingestor = Ingestor(store, embedder, ChunkerConfig(200, 20), max_file_bytes=10**9)
    report = IngestReport("scan")
    ingestor.run_documents([document], "scan", report, progress=True)
    collection = store.open("scan")
    queries = [
        f"what does line {n % LINES} of page {1 + (n * 37) % args.pages} say about {WORDS[n % 10]}?"
        for n in range(args.queries)
    ]
    vectors = embedder.embed_queries(queries)
    timings: list[float] = []
    for query, vector in tqdm(list(zip(queries, vectors, strict=True)), desc="searching"):
        started = time.perf_counter()
        hits = collection.search(SearchRequest(query, "scan", k=10, mode="hybrid"), vector)
        shown = [result_dict(rank, hit) for rank, hit in enumerate(hits, start=1)]
        timings.append(time.perf_counter() - started)
        assert shown, query
    timings = timings[5:]  # the first searches warm the readers' caches
    result = {
        "backend": args.backend,
        "pages": args.pages,
        "chunks": report.chunks,
        "metadata_bytes": len(json.dumps(document.metadata)),
        "queries": len(timings),
        "median_ms": round(statistics.median(timings) * 1000, 2),
        "p95_ms": round(sorted(timings)[int(0.95 * (len(timings) - 1))] * 1000, 2),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
