"""Fit the answerability gate (qa/answer/gate.py) and report it on held-out questions.

    .venv/bin/python scripts/fit_answerability.py [--limit 600] [--clapnq-weight 3]
        [--out qa/answer/answerability_weights.json] [--no-write]

The gate decides before the generator runs, so its features need retrieval only: each
set's whole corpus is ingested once (the cache `scripts/eval_answers.py` uses), and up
to --limit seeded questions of each split go through retrieval, the evidence gate and
the extractive candidates, as in `qa ask`. A logistic regression is fitted on the
**dev** split of ClapNQ, COVID-QA and CMRC 2018 (the label: the question has an answer
in the documents; only ClapNQ has unanswerable ones, so its rows weigh --clapnq-weight
each; a question with no evidence is left out, the pipeline refuses it before the gate,
and counts as refused in the figures). The threshold is the one that maximises the
lower of answered and refused on ClapNQ's dev rows. The **test** split plays no part;
its figures are printed and written to reports/answerability.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from qa.answer.answerability import Outcome
from qa.answer.confidence import Calibration
from qa.answer.extraction import candidates
from qa.answer.gate import GATE_FEATURES, GATE_WEIGHTS_FILE, gate_features
from qa.answer.pipeline import AskPipeline
from qa.eval.answers import Split, sample
from qa.eval.datasets import load_dataset
from qa.runtime import Runtime
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SETS = ("clapnq", "covidqa", "cmrc2018")


def feature_rows(name: str, settings: Settings, limit: int, seed: int) -> list[dict[str, Any]]:
    """Every sampled question of both splits with its gate features (no generation)."""
    dataset = load_dataset(name, settings.data_dir)
    runtime = Runtime(
        settings.model_copy(update={"index_dir": settings.cache_dir / "eval-indexes"})
    )
    collection = f"{name}-auto"
    runtime.ingest_documents(dataset.documents, collection, embedder=None, progress=True)
    embedder = runtime.collection(collection).manifest.embedder["name"]
    pipeline = AskPipeline(runtime)
    rows = []
    splits: tuple[Split, ...] = ("dev", "test")
    for split in splits:
        for query in tqdm(sample(dataset.queries, limit, seed, split), desc=f"{name} {split}"):
            opened = pipeline.open(query.text, collection)
            hits, evidence, passages, _ = pipeline._evidence(opened)
            found = candidates(opened.text, passages)
            before = Outcome(hits, evidence, passages, found, None, False, None, False)
            features = gate_features(opened.text, before, opened.query_embedder())
            rows.append(
                {
                    "set": name,
                    "split": split,
                    "id": query.id,
                    "answerable": bool(query.answers),
                    "embedder": embedder,
                    "language": opened.language,
                    "evidence": bool(passages),
                    "features": {k: round(features.get(k, 0.0), 5) for k in GATE_FEATURES},
                }
            )
    return rows


def matrix(rows: list[dict[str, Any]]) -> np.ndarray:
    return np.array([[row["features"][k] for k in GATE_FEATURES] for row in rows])


def score(calibration: Calibration, row: dict[str, Any]) -> float:
    """A question with no evidence never reaches the gate: the pipeline refuses it first."""
    return calibration.score(row["features"]) if row["evidence"] else 0.0


def rates(scores: np.ndarray, answerable: np.ndarray, threshold: float) -> dict[str, float]:
    out = {"answered": round(float((scores[answerable] >= threshold).mean()), 3)}
    if (~answerable).any():
        out["refused"] = round(float((scores[~answerable] < threshold).mean()), 3)
    return out


def fit(rows: list[dict[str, Any]], clapnq_weight: float) -> Calibration:
    dev = [r for r in rows if r["split"] == "dev" and r["evidence"]]
    y = np.array([r["answerable"] for r in dev])
    weight = np.array([clapnq_weight if r["set"] == "clapnq" else 1.0 for r in dev])
    model = LogisticRegression(max_iter=5000).fit(matrix(dev), y, sample_weight=weight)
    weights = {k: round(float(w), 4) for k, w in zip(GATE_FEATURES, model.coef_[0], strict=True)}
    calibration = Calibration(weights, round(float(model.intercept_[0]), 4), 0.0)
    clap = [r for r in rows if r["split"] == "dev" and r["set"] == "clapnq"]
    scores = np.array([score(calibration, r) for r in clap])
    answerable = np.array([r["answerable"] for r in clap])
    best = max(
        (round(float(t), 2) for t in np.arange(0.05, 0.951, 0.01)),
        key=lambda t: min(rates(scores, answerable, t).values()),
    )
    return Calibration(weights, calibration.bias, best)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=600, help="questions per set and split")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--clapnq-weight", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=GATE_WEIGHTS_FILE)
    parser.add_argument("--no-write", action="store_true", help="report without saving weights")
    args = parser.parse_args()

    settings = Settings()
    rows = [r for name in SETS for r in feature_rows(name, settings, args.limit, args.seed)]
    calibration = fit(rows, args.clapnq_weight)
    report: dict[str, Any] = {"threshold": calibration.threshold, "sets": {}}
    for name in SETS:
        for split in ("dev", "test"):
            part = [r for r in rows if r["set"] == name and r["split"] == split]
            scores = np.array([score(calibration, r) for r in part])
            answerable = np.array([r["answerable"] for r in part])
            figures = {"questions": len(part), **rates(scores, answerable, calibration.threshold)}
            report["sets"][f"{name} {split}"] = figures
            print(f"{name:9s} {split:4s} {figures}")
    data = {
        **calibration.to_dict(),
        "applies_to": {
            e: sorted({r["language"] for r in rows if r["embedder"] == e})
            for e in sorted({r["embedder"] for r in rows})
        },
        "fitted_on": {name: "dev" for name in SETS},
        "clapnq_weight": args.clapnq_weight,
        "fit": {k: v for k, v in report["sets"].items() if k.endswith("dev")},
    }
    data.pop("means")
    if args.out.exists():
        # Chosen on conversations by scripts/eval_conversations.py fit-follow-up: kept,
        # though after new weights it should be chosen again.
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        data |= {k: v for k, v in previous.items() if k.startswith("follow_up")}
    if not args.no_write:
        args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    out = ROOT / "reports" / "answerability.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**report, "rows": rows}, indent=2), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
