"""Retrieval figures for docs/EVALUATION.md: every set, embedder and mode.

    .venv/bin/python scripts/eval_retrieval.py [--datasets med clapnq covidqa cmrc2018]
        [--embedders minilm e5-multilingual] [--limit N]

Reads the sets from ../shared/data (or $QA_DATA_DIR), prints one table and
writes reports/eval_retrieval.json. Same code path as `qa eval retrieval`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa.eval.datasets import load_dataset
from qa.eval.retrieval import RetrievalResult, evaluate, table
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=["med", "clapnq", "covidqa", "cmrc2018"])
    parser.add_argument("--embedders", nargs="+", default=["minilm", "e5-multilingual"])
    parser.add_argument("--limit", type=int, help="first N queries of each set")
    parser.add_argument("--modes", nargs="+", help="sparse, dense, hybrid [default: all]")
    parser.add_argument("--fusion", choices=["rrf", "blend"], help="[default: the setting]")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "eval_retrieval.json")
    args = parser.parse_args()

    settings = Settings()
    results: list[RetrievalResult] = []
    for name in args.datasets:
        dataset = load_dataset(name, settings.data_dir)
        for embedder in args.embedders:
            modes = args.modes or (
                ["sparse", "dense", "hybrid"]
                if embedder == args.embedders[0]
                else ["dense", "hybrid"]
            )
            found = evaluate(
                dataset,
                embedder=embedder,
                settings=settings,
                modes=tuple(modes),
                limit=args.limit,
                fusion=args.fusion,
            )
            results.extend(found)
            print(table(found), flush=True)
    print()
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([r.as_dict() for r in results], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
