"""Ingestion from files with parsing and embedding overlapped, against one after another.

    .venv/bin/python scripts/bench_read_ahead.py [--documents 40] [--scans 0] [--repeats 3]
        [--depths 0 8] [--out reports/bench_read_ahead.json]

Corpus: COVID-QA articles (../shared/data/covidqa) written as text PDFs with fpdf into
a temporary folder (PDFium reads the text, pdfplumber looks for tables); with --scans N,
the first N of them as one scanned page each (a picture of the article's opening,
200 dpi, no text layer), which only OCR reads. Each repeat ingests the folder into a
fresh index with `Runtime.ingest`, as `qa ingest` does, once per read-ahead depth
(`QA_READ_AHEAD_FILES`; 0 reads every file before embedding), interleaved; the MiniLM
embedder is loaded once, before timing. Also timed each repeat: reading the files
alone (`Ingestor.load`), to show how much of the ingestion is reading. Prints medians
and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent


def scanned(folder: Path, name: str, text: str, lines: int = 24) -> None:
    """The opening of `text` as one scanned page: a picture of the words, no text layer,
    so that reading it is OCR."""
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 28)
    wrapped = textwrap.wrap(" ".join(text.split()), 80)[:lines]
    page = Image.new("L", (1400, 120 + 56 * len(wrapped)), 255)
    draw = ImageDraw.Draw(page)
    for n, line in enumerate(wrapped):
        draw.text((60, 60 + 56 * n), line, font=face, fill=0)
    page.convert("RGB").save(folder / f"{name}.pdf", "PDF", resolution=200)


def write_pdfs(folder: Path, documents: int, scans: int) -> int:
    """The first `documents` COVID-QA articles as PDFs, the first `scans` of them as one
    scanned page each; returns the pages written."""
    from bench_ingest import covidqa_documents
    from fpdf import FPDF

    pages = 0
    for n, doc in enumerate(covidqa_documents()[:documents]):
        if n < scans:
            scanned(folder, doc.id.replace("/", "-"), doc.text)
            pages += 1
            continue
        pdf = FPDF()
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.add_page()
        pdf.set_font("Helvetica", size=10)
        text = doc.text.encode("latin-1", "replace").decode("latin-1")
        for paragraph in text.split("\n"):
            if paragraph.strip():
                pdf.multi_cell(0, 5, paragraph)
                pdf.ln(2)
        pages += pdf.page_no()
        pdf.output(str(folder / f"{doc.id.replace('/', '-')}.pdf"))
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scans", type=int, default=0, help="of them scanned (OCR)")
    parser.add_argument("--depths", type=int, nargs="+", default=[0, 8])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_read_ahead.json")
    args = parser.parse_args()

    from qa.ingest.pipeline import Ingestor, IngestReport
    from qa.models.embedders import load_embedder
    from qa.runtime import Runtime, configure_threads
    from qa.settings import Settings

    settings = Settings()
    configure_threads(settings.threads)
    embedder = load_embedder("minilm")
    times: dict[int, list[float]] = {depth: [] for depth in args.depths}
    parse: list[float] = []
    chunks = 0
    with tempfile.TemporaryDirectory(prefix="bench-read-ahead-") as tmp:
        folder = Path(tmp) / "pdfs"
        folder.mkdir()
        pages = write_pdfs(folder, args.documents, args.scans)
        for repeat in range(args.repeats):
            started = time.perf_counter()
            report = IngestReport("bench")
            Ingestor(None, None, None, max_file_bytes=settings.max_file_bytes).load(  # type: ignore[arg-type]
                [folder], report
            )
            parse.append(time.perf_counter() - started)
            order = args.depths if repeat % 2 == 0 else list(reversed(args.depths))
            for depth in order:
                index = Path(tmp) / f"index-{repeat}-{depth}"
                runtime = Runtime(
                    settings.model_copy(
                        update={"index_dir": index, "embedder": "minilm", "read_ahead_files": depth}
                    )
                )
                runtime.add_embedder(embedder)
                started = time.perf_counter()
                done = runtime.ingest([folder], "bench", progress=False)
                times[depth].append(time.perf_counter() - started)
                chunks = done.chunks
                print(f"repeat {repeat + 1}, read-ahead {depth}: {times[depth][-1]:.2f} s")
    load = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    base = statistics.median(times[args.depths[0]])
    print(f"\n{args.documents} PDFs ({args.scans} scanned), {pages} pages, {chunks} chunks; "
          f"load average {load[0]:.1f}")  # fmt: skip
    print(f"reading alone: median {statistics.median(parse):.2f} s {[round(p, 2) for p in parse]}")
    print("| read-ahead files | median s | runs | chunks/s | vs first |")
    print("|---|---|---|---|---|")
    for depth in args.depths:
        median = statistics.median(times[depth])
        runs = [round(t, 2) for t in times[depth]]
        rows.append({"read_ahead": depth, "median_s": round(median, 3), "runs": runs,
                     "chunks_per_s": round(chunks / median, 1)})  # fmt: skip
        print(f"| {depth} | {median:.2f} | {runs} | {chunks / median:.1f} | {base / median:.2f}x |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "documents": args.documents, "scans": args.scans, "pages": pages, "chunks": chunks,
        "parse_s_runs": [round(p, 3) for p in parse], "load_average": load, "rows": rows,
    }, indent=2))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
