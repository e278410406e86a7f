"""Answer quality and latency for docs/EVALUATION.md: sets x generator presets.

    .venv/bin/python scripts/eval_answers.py [--datasets covidqa clapnq cmrc2018]
        [--generators fast] [--limit 100] [--embedder e5-multilingual]
        [--split dev|test|all] [--set evidence_selection=false ...]

For each set the whole corpus is ingested once (cached under the cache folder,
reused by later runs) and a seeded sample of questions goes through the same
pipeline as `qa ask`: ClapNQ's sample is half answerable, half unanswerable.
Prints one table and writes reports/eval_answers.json (every answer included, with
its confidence features: `scripts/calibrate.py` fits on them). `--split dev` tunes
and fits, `--split test` reports (qa/eval/answers.py: in_split); `--set NAME=VALUE`
overrides a setting for an ablation (`confidence_threshold=0` never refuses).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa.eval.answers import AnswerSummary, evaluate_answers, table
from qa.eval.datasets import load_dataset
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=["covidqa", "clapnq", "cmrc2018"])
    parser.add_argument("--generators", nargs="+", default=["fast"])
    parser.add_argument("--limit", type=int, default=100, help="questions per set")
    parser.add_argument("--embedder", help="[default: the QA_EMBEDDER setting, auto by language]")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--split", choices=["all", "dev", "test"], default="all")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "eval_answers.json")
    args = parser.parse_args()

    overrides = dict(item.split("=", 1) for item in args.set)
    base = Settings(**overrides)
    summaries: list[AnswerSummary] = []
    for name in args.datasets:
        dataset = load_dataset(name, base.data_dir)
        for generator in args.generators:
            settings = base.model_copy(update={"generator": generator})
            summary = evaluate_answers(
                dataset,
                settings=settings,
                embedder=args.embedder or settings.embedder,
                limit=args.limit,
                seed=args.seed,
                split=args.split,
            )
            summaries.append(summary)
            print(table([summary]), flush=True)
    print(table(summaries))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps([s.as_dict() for s in summaries], indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
