"""Fit the answer confidence (qa/answer/confidence.py) on evaluation reports of the
fitting split, and choose the refusal threshold on that same split.

    .venv/bin/python scripts/eval_answers.py --split dev --set confidence_threshold=0 ...
    .venv/bin/python scripts/calibrate.py reports/dev_*.json

Reports must come from runs with `confidence_threshold=0`, so that every answer is
seen before any refusal by confidence. A row's label is 1 when the question is
answerable and the answer overlaps a gold answer (F1 > 0), else 0: an unanswerable
question, a refusal and a wrong answer all teach the model to doubt. The threshold
maximises the smaller of two rates on the fitting rows: answerable questions
answered and unanswerable questions refused (the issue's floors are on both).
Writes qa/answer/confidence_weights.json. Strict mode's weights add the verifier's
feature and go to their own file:

    .venv/bin/python scripts/calibrate.py reports/dev_clapnq_strict.json --with verified \
        --out qa/answer/confidence_weights_strict.json

The draft's log-probabilities (lp_*) are recorded but left out unless named with
`--with`: they did not help on held-out rows (docs/EVALUATION.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from qa.answer.confidence import FEATURES, WEIGHTS_FILE, Calibration

OPTIONAL = ("lp_mean", "lp_min", "lp_opening", "verified")
"""Features fitted only when asked for: not every backend or setting computes them."""


def load_rows(paths: list[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        for summary in json.loads(path.read_text(encoding="utf-8")):
            rows.extend(summary["rows"])
    return rows


def feature_means(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, float]:
    """Each feature's mean over the rows that have it (the log-probabilities are missing
    where a generator reports none)."""
    means = {}
    for name in names:
        values = [row["features"][name] for row in rows if name in row["features"]]
        means[name] = round(float(np.mean(values)), 4) if values else 0.0
    return means


def fit(
    rows: list[dict[str, Any]], c: float, names: tuple[str, ...]
) -> tuple[Calibration, dict[str, float]]:
    means = feature_means(rows, names)
    x = np.array([[row["features"].get(name, means[name]) for name in names] for row in rows])
    y = np.array([int(row["answerable"] and row["found"] and row["f1"] > 0) for row in rows])
    model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    weights = {name: round(float(w), 4) for name, w in zip(names, model.coef_[0], strict=True)}
    calibration = Calibration(weights, round(float(model.intercept_[0]), 4), 0.0, means)
    scores = np.array([calibration.score(row["features"]) for row in rows])
    answerable = np.array([row["answerable"] for row in rows])
    found = np.array([row["found"] for row in rows])
    best: tuple[float, float, dict[str, float]] = (-1.0, 0.0, {})
    for threshold in np.arange(0.05, 0.951, 0.01):
        answered = found & (scores >= threshold)
        rates = {
            "answered": float(answered[answerable].mean()) if answerable.any() else 1.0,
            "refused": float((~answered[~answerable]).mean()) if (~answerable).any() else 1.0,
        }
        worst = min(rates.values())
        if worst > best[0]:
            best = (worst, float(threshold), rates)
    chosen = Calibration(weights, calibration.bias, round(best[1], 2), means)
    return chosen, {"rows": len(rows), "positives": int(y.sum()), **best[2]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    parser.add_argument(
        "--with",
        dest="extra",
        nargs="*",
        default=[],
        choices=OPTIONAL,
        metavar="FEATURE",
        help=f"optional features to fit as well: {', '.join(OPTIONAL)}",
    )
    args = parser.parse_args()
    names = tuple(f for f in FEATURES if f not in OPTIONAL or f in args.extra)
    calibration, figures = fit(load_rows(args.reports), args.c, names)
    data = {
        **calibration.to_dict(),
        "fitted_on": [p.name for p in args.reports],
        "fit": figures,
    }
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
