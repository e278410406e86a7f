"""Fuzz every document loader, the structure detector and the chunker for a while.

    .venv/bin/python scripts/fuzz_loaders.py [--seconds 600] [--formats txt md html pdf
        docx jsonl text] [--cap 10] [--seed N]

The same properties and Hypothesis generators as tests/ingest/test_hostile_documents.py (whose
short, fixed run is part of `make test`), run at random for longer: each format gets an
equal share of --seconds, in batches of examples with a fresh random seed each (or
seeds derived from --seed, to repeat a run). The property, for each generated file: the
loader returns Documents or refuses it with a LoaderError, within --cap seconds; for
`text`, the structure detector and the chunker take it within the cap and cut exact
slices of it. Generators: long runs of blanks, dots, digits, backticks, division
markers; deep nesting; random and mutated bytes; zips that lie about their sizes or
inflate a thousandfold; PDFs declaring absurd page counts and sizes (tests/ingest/hostile.py).

Prints one line a format (examples, documents, refusals, slowest example, failures)
and writes reports/fuzz_loaders.json; a failure's falsifying input is shrunk by
Hypothesis and its description kept in the report. Exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ingest.hostile import FORMATS, STRATEGIES, Outcome, check_loader, check_text, texts  # noqa: E402

BATCH = 50


@dataclass
class Tally:
    examples: int = 0
    results: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0
    slowest: str = ""
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.examples += 1
        self.results[outcome.result] += 1
        if outcome.seconds > self.slowest_s:
            self.slowest_s, self.slowest = outcome.seconds, outcome.detail


def _batch(target: str, tally: Tally, cap_s: float, batch_seed: int) -> None:
    """Up to BATCH examples of one target; a failure is shrunk, then raised."""
    strategy = texts() if target == "text" else STRATEGIES[target]()

    @seed(batch_seed)
    @settings(
        max_examples=BATCH,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        print_blob=True,
    )
    @given(strategy)
    def run(value: str | bytes) -> None:
        if isinstance(value, str):
            tally.add(check_text(value, cap_s))
        else:
            tally.add(check_loader(target, value, cap_s))

    run()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="total fuzzing time")
    parser.add_argument(
        "--formats",
        nargs="+",
        default=[*FORMATS, "text"],
        choices=[*FORMATS, "text"],
        help="loaders to fuzz ('text': the structure detector and chunker)",
    )
    parser.add_argument("--cap", type=float, default=10.0, help="seconds one example may take")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run's batches")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "fuzz_loaders.json")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the loaders' notes on each skipped record or table
    warnings.simplefilter("ignore")  # and the parsers' on markup they find odd

    seeds = random.Random(args.seed)
    share = args.seconds / len(args.formats)
    report: dict[str, object] = {"seconds": args.seconds, "cap_s": args.cap, "seed": args.seed}
    failed = False
    for target in args.formats:
        tally = Tally()
        start = time.monotonic()
        while time.monotonic() - start < share:
            batch_seed = seeds.randrange(2**32)
            try:
                _batch(target, tally, args.cap, batch_seed)
            except Exception as exc:
                failed = True
                tally.failures.append(
                    f"seed {batch_seed}: "
                    + "".join(traceback.format_exception_only(type(exc), exc))[-2_000:]
                )
        elapsed = time.monotonic() - start
        print(
            f"{target:6s} {tally.examples:6d} examples in {elapsed:5.0f} s: "
            f"{tally.results['documents']} read, {tally.results['refused']} refused; "
            f"slowest {tally.slowest_s:.2f} s ({tally.slowest}); "
            f"{len(tally.failures)} failure(s)",
            flush=True,
        )
        for failure in tally.failures:
            print("   ", failure.replace("\n", "\n    "))
        report[target] = {
            "examples": tally.examples,
            "seconds": round(elapsed, 1),
            "documents": tally.results["documents"],
            "refused": tally.results["refused"],
            "slowest_s": round(tally.slowest_s, 3),
            "slowest": tally.slowest,
            "failures": tally.failures,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
