"""Generator speed and fidelity by compute type: time to first token, decoding rate, and
whether the answers stay those of float32.

    .venv/bin/python scripts/bench_generate.py [--generator fast] [--questions 8]
        [--variants float32 float16 bfloat16 int8 llama-cpp ct2-int8 openvino-prefill]
        [--new-tokens 48]

The prompts are the pipeline's own: each question of tests/fixtures/corpus_questions.jsonl
(the first --questions) is searched in a temporary index of corpus/ built with the
default settings, the top --k passages go through `select_passages` and `build_messages`
as `qa ask` does (5 passages: about 700-1,000 prompt tokens). Every variant answers
every prompt greedily with exactly --new-tokens new tokens, after one warm-up prompt.

Variants:
  float32, float16, bfloat16  the converted model folder computed in that type
                              (QA_GENERATOR_DTYPE)
  int8                        float32 with every linear layer dynamically quantised to
                              int8 (qa.models.quantization, as the embedder is)
  llama-cpp                   the preset's GGUF file run natively by llama-cpp-python
                              (the `gguf` extra, built by `make install`; skipped when
                              it is not importable)
  openvino-prefill            float32 decoding from the keys and values OpenVINO read the
                              prompt into in bfloat16 (QA_GENERATOR_PREFILL=openvino;
                              exported once into the cache)
  ct2-int8, ct2-int8_float32  the converted folder re-converted once by CTranslate2 to
                              int8 weights (per-channel scales), computed in int8 or with
                              float32 activations (the `ct2` extra; skipped without it)

The variants take turns prompt by prompt, so a load that comes and goes on a shared
machine weighs on all of them alike: compare the medians of one run, not across runs.

Figures per variant: median time to first token (prompt read plus one decoding step),
prompt tokens/s, median decoding tokens/s, and fidelity against float32: the share of
answers whose first --new-tokens tokens are identical, and the median length of the
common prefix. A variant that is faster but changes answers is no speed-up: the
sample-corpus evaluation (scripts/eval_corpus.py) decides. Writes
reports/bench_generate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqdm import tqdm  # noqa: E402

from qa.models.protocols import ChatMessage  # noqa: E402


def prompts(generator: str, count: int, k: int) -> list[list[ChatMessage]]:
    """The messages `qa ask` would send for the first ``count`` sample questions."""
    from qa.answer.prompts import build_messages, select_passages
    from qa.records import SearchRequest
    from qa.retrieval.search import Retriever
    from qa.runtime import Runtime
    from qa.settings import Settings
    from qa.text import detect

    rows = [
        json.loads(line)
        for line in (ROOT / "tests" / "fixtures" / "corpus_questions.jsonl")
        .read_text()
        .splitlines()
        if line.strip()
    ][:count]
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        settings = Settings(index_dir=Path(tmp), generator=generator)
        runtime = Runtime(settings)
        runtime.ingest([ROOT / "corpus"], "default", progress=False)
        retriever = Retriever(runtime)
        count_tokens = runtime.generator().count_tokens
        result = []
        for row in rows:
            hits = retriever.search(SearchRequest(row["question"], "default", k))
            passages = select_passages(hits, settings.context_tokens, count_tokens)
            result.append(build_messages(row["question"], passages, detect(row["question"])))
    return result


class Timing:
    """A transformers streamer that only records when each new token arrives."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.times: list[float] = []
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # the first call hands over the prompt
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


VARIANTS = (
    "float32",
    "float16",
    "bfloat16",
    "int8",
    "llama-cpp",
    "ct2-int8",
    "ct2-int8_float32",
    "openvino-prefill",
)

# One greedy answer: its new token ids, its prompt's length in tokens, and the timings.
Answerer = Callable[[list[ChatMessage]], tuple[list[int], int, "Timing"]]


def run_transformers(variant: str, folder: Path, new: int, cache: Path) -> Answerer:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qa.models.openvino_prefill import OpenVinoPrefill, export_prefill
    from qa.models.quantization import quantize_int8

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    prefill = None
    if variant == "openvino-prefill":
        prefill = OpenVinoPrefill(export_prefill(folder, cache), threads=0)
    dtype = torch.float32 if variant in ("int8", "openvino-prefill") else getattr(torch, variant)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    model.eval()
    if variant == "int8":
        model = quantize_int8(model, inplace=True)

    def answer(m: list[ChatMessage]) -> tuple[list[int], int, Timing]:
        inputs: Any = tokenizer.apply_chat_template(
            [{"role": x["role"], "content": x["content"]} for x in m],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        timing = Timing()
        with torch.inference_mode():
            # Inside the timing: the prefill is the prompt's reading.
            read = prefill.read_ahead(inputs["input_ids"], model.config) if prefill else {}
            out = model.generate(
                **inputs,
                **read,
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                streamer=timing,
                pad_token_id=tokenizer.eos_token_id,
            )
        prompt = int(inputs["input_ids"].shape[1])
        return out[0, prompt:].tolist(), prompt, timing

    return answer


def run_llama_cpp(gguf: Path, folder: Path, new: int) -> Answerer:
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    llm: Any = Llama(model_path=str(gguf), n_ctx=4096, n_threads=os.cpu_count(), verbose=False)
    # The same tokenizer and chat template as the GGUF's: counts the prompt as it is read.
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    def answer(m: list[ChatMessage]) -> tuple[list[int], int, Timing]:
        prompt = len(
            tokenizer.apply_chat_template(
                [{"role": x["role"], "content": x["content"]} for x in m],
                add_generation_prompt=True,
                return_dict=True,
            )["input_ids"]
        )
        timing = Timing()
        timing.put(None)
        ids: list[int] = []
        stream = llm.create_chat_completion(
            messages=[{"role": x["role"], "content": x["content"]} for x in m],
            max_tokens=new,
            temperature=0.0,
            stream=True,
        )
        for chunk in stream:
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                timing.put(piece)
                ids.extend(llm.tokenize(piece.encode(), add_bos=False, special=False))
        llm.reset()  # no prompt prefix kept between questions, as for the other variants
        return ids, prompt, timing

    return answer


def run_ct2(compute_type: str, folder: Path, cache: Path, new: int) -> Answerer:
    import ctranslate2
    from transformers import AutoTokenizer

    from qa.models.ct2_generator import convert_ct2

    tokenizer: Any = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = convert_ct2(folder, cache)
    generator = ctranslate2.Generator(
        str(model), device="cpu", compute_type=compute_type, intra_threads=os.cpu_count() or 1
    )

    def answer(m: list[ChatMessage]) -> tuple[list[int], int, Timing]:
        ids = tokenizer.apply_chat_template(
            [{"role": x["role"], "content": x["content"]} for x in m],
            add_generation_prompt=True,
            return_dict=True,
        )["input_ids"]
        timing = Timing()
        timing.put(None)
        out: list[int] = []
        for step in generator.generate_tokens(
            tokenizer.convert_ids_to_tokens(ids), max_length=new, sampling_topk=1
        ):
            timing.put(step.token_id)
            out.append(step.token_id)
        return out, len(ids), timing

    return answer


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generator", default="fast", help="tiny, fast or quality")
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--k", type=int, default=5, help="passages a prompt")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[v for v in VARIANTS if v != "ct2-int8_float32"],
        choices=VARIANTS,
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_generate.json")
    args = parser.parse_args()

    from qa.models.packages import distribution_files, join_verified
    from qa.models.registry import GENERATOR_PRESETS, generator_folder
    from qa.settings import Settings

    settings = Settings()
    folder = generator_folder(args.generator, settings.cache_dir)
    messages = prompts(args.generator, args.questions, args.k)
    results: dict[str, dict[str, Any]] = {}
    answers: dict[str, list[list[int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-generate-gguf-") as tmp:
        answerers: dict[str, Answerer] = {}
        for variant in args.variants:
            if variant == "llama-cpp":
                try:
                    import llama_cpp  # noqa: F401
                except ImportError:
                    print("llama-cpp: llama_cpp is not installed; skipped (see --help)")
                    continue
                preset = GENERATOR_PRESETS[args.generator]
                parts = [
                    p for d in preset.distributions for p in distribution_files(d, preset.pattern)
                ]
                gguf = Path(tmp) / "model.gguf"
                join_verified(parts, gguf, preset.sha256)
                answerers[variant] = run_llama_cpp(gguf, folder, args.new_tokens)
            elif variant.startswith("ct2-"):
                try:
                    import ctranslate2  # noqa: F401
                except ImportError:
                    print(f"{variant}: ctranslate2 is not installed; skipped (see --help)")
                    continue
                answerers[variant] = run_ct2(
                    variant.removeprefix("ct2-"), folder, settings.cache_dir, args.new_tokens
                )
            else:
                answerers[variant] = run_transformers(
                    variant, folder, args.new_tokens, settings.cache_dir
                )
            answerers[variant](messages[0])  # warm-up
        first: dict[str, list[float]] = {v: [] for v in answerers}
        prompt_rates: dict[str, list[float]] = {v: [] for v in answerers}
        decode_rates: dict[str, list[float]] = {v: [] for v in answerers}
        answers.update({v: [] for v in answerers})
        for m in tqdm(messages, desc="prompts", unit="prompt"):
            for variant, answer in answerers.items():
                tokens, prompt, timing = answer(m)
                ttft = timing.times[0] - timing.started
                first[variant].append(ttft)
                prompt_rates[variant].append(prompt / ttft)
                if len(timing.times) > 1:
                    span = timing.times[-1] - timing.times[0]
                    decode_rates[variant].append((len(timing.times) - 1) / span)
                answers[variant].append(tokens)
        for variant in answerers:
            results[variant] = {
                "first_token_s_median": round(statistics.median(first[variant]), 3),
                "prompt_tokens_per_s_median": round(statistics.median(prompt_rates[variant]), 1),
                "decode_tokens_per_s_median": round(statistics.median(decode_rates[variant]), 2),
            }
    reference = answers.get("float32")
    for variant, ids in answers.items():
        if reference is not None and variant != "llama-cpp":
            same = [a == b for a, b in zip(ids, reference, strict=True)]
            prefix = [common_prefix(a, b) for a, b in zip(ids, reference, strict=True)]
            results[variant]["same_as_float32"] = round(sum(same) / len(same), 3)
            results[variant]["common_prefix_median"] = statistics.median(prefix)
    header = "| variant | first token s | prompt tokens/s | decode tokens/s | same as float32 |"
    print(
        f"\n{args.generator}, {len(messages)} prompts of {args.k} passages, "
        f"{args.new_tokens} new tokens"
    )
    print(header)
    print("|---|---|---|---|---|")
    for variant, r in results.items():
        same = r.get("same_as_float32", "")
        print(
            f"| {variant} | {r['first_token_s_median']} | {r['prompt_tokens_per_s_median']} "
            f"| {r['decode_tokens_per_s_median']} | {same} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "generator": args.generator,
                "questions": len(messages),
                "k": args.k,
                "new_tokens": args.new_tokens,
                "load_average": os.getloadavg(),
                "variants": results,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
