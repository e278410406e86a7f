"""Answer the sample-corpus questions and report correctness and latency.

    .venv/bin/python scripts/eval_corpus.py [--generator fast] [--index-dir DIR]

Builds a temporary index of corpus/ unless --index-dir names one, runs every
question in tests/fixtures/corpus_questions.jsonl through the same pipeline as
`qa ask`, and prints per-question results plus medians. A question counts as
correct when `found` matches its answerability and the answer contains every
`must_contain` string. Writes reports/corpus_answers-GENERATOR.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from qa.answer.pipeline import AskPipeline
from qa.eval.answers import percentile
from qa.runtime import Runtime
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--generator", default="fast", help="tiny, fast, quality or a folder")
    parser.add_argument("--index-dir", type=Path, help="existing index with a 'default' collection")
    parser.add_argument(
        "--questions", type=Path, default=ROOT / "tests" / "fixtures" / "corpus_questions.jsonl"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index_dir or Path(tmp)
        runtime = Runtime(Settings(index_dir=index_dir, generator=args.generator))
        if args.index_dir is None:
            runtime.ingest([ROOT / "corpus"], "default", progress=False)
        pipeline = AskPipeline(runtime)
        runtime.generator()
        questions = [json.loads(line) for line in args.questions.read_text().splitlines()]
        rows = []
        for q in tqdm(questions, desc=f"asking ({args.generator})", unit="question"):
            started = time.perf_counter()
            answer = pipeline.ask(q["question"])
            total = time.perf_counter() - started
            correct = answer.found == q["answerable"] and all(
                m.lower() in answer.answer.lower() for m in q["must_contain"]
            )
            rows.append(
                {
                    "id": q["id"],
                    "correct": correct,
                    "found": answer.found,
                    "answerable": q["answerable"],
                    "answer": answer.answer,
                    "cited": [c.document for c in answer.citations],
                    "confidence": answer.confidence,
                    "total_s": round(total, 3),
                    "first_token_s": answer.timings.get("first_token_s"),
                }
            )

    answered = [r for r in rows if r["first_token_s"] is not None]
    summary = {
        "generator": args.generator,
        "questions": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "answerable_correct": sum(r["correct"] for r in rows if r["answerable"]),
        "answerable": sum(r["answerable"] for r in rows),
        "unanswerable_declined": sum(not r["found"] for r in rows if not r["answerable"]),
        "unanswerable": sum(not r["answerable"] for r in rows),
        "median_total_s": round(statistics.median(r["total_s"] for r in rows), 3),
        "p95_total_s": round(percentile([r["total_s"] for r in rows], 0.95), 3),
        "median_first_token_s": round(statistics.median(r["first_token_s"] for r in answered), 3)
        if answered
        else None,
    }
    for r in rows:
        mark = "ok " if r["correct"] else "BAD"
        print(f"{r['id']} {mark} {r['total_s']:6.2f}s  {r['answer'][:100]}")
    print(json.dumps(summary, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"corpus_answers-{Path(args.generator).name}.json"
    path.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2, ensure_ascii=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
