"""How likely an answer is to be right: a logistic model over cheap features.

Retrieval alone cannot tell ClapNQ's unanswerable half from its answerable one (a
passage on the very subject is always there), and the generator writes a fluent
sentence either way. What differs is smaller: how much of the question the best
evidence sentence holds, whether it holds an answer of the kind asked for, whether
the draft survived grounding and agrees with the extractive candidate. The weights
are fitted by `scripts/calibrate.py` on one split of the public sets and stored in
`confidence_weights.json` beside this module, with the refusal threshold chosen on
that same split; docs/EVALUATION.md reports them on another.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

WEIGHTS_FILE = Path(__file__).with_name("confidence_weights.json")
STRICT_WEIGHTS_FILE = Path(__file__).with_name("confidence_weights_strict.json")
"""Fitted with the strict-mode check's `verified` feature: used where it was computed."""

FEATURES: tuple[str, ...] = (
    "dense_top",
    "dense_margin",
    "evidence_share",
    "passage_coverage",
    "best_coverage",
    "typed_question",
    "type_found",
    "yesno",
    "model_declined",
    "grounded",
    "dropped_share",
    "fallback",
    "agrees",
    "chinese",
    "sentence_similarity",
    "lp_mean",
    "lp_min",
    "lp_opening",
    "verified",
)


@dataclass(frozen=True)
class Calibration:
    weights: dict[str, float]
    bias: float
    threshold: float
    """Answers scoring below it are refused."""
    means: dict[str, float] = field(default_factory=dict)
    """Each feature's mean on the fitting rows, standing in for a feature an answer
    lacks (a generator that reports no log-probabilities): it then moves the score
    as an average answer's would, where zero could read as certainty."""

    def score(self, features: dict[str, float]) -> float:
        z = self.bias + sum(
            w * features.get(name, self.means.get(name, 0.0)) for name, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_dict(self) -> dict[str, object]:
        return {
            "weights": self.weights,
            "bias": self.bias,
            "threshold": self.threshold,
            "means": self.means,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Calibration:
        weights = data["weights"]
        if not isinstance(weights, dict):
            raise ValueError("calibration weights must be a mapping of feature to weight")
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"calibration names unknown features: {sorted(unknown)}")
        means = data.get("means", {})
        if not isinstance(means, dict):
            raise ValueError("calibration means must be a mapping of feature to value")
        return cls(
            {str(k): float(v) for k, v in weights.items()},
            float(str(data["bias"])),
            float(str(data["threshold"])),
            {str(k): float(v) for k, v in means.items()},
        )


@lru_cache(maxsize=4)
def load_calibration(path: Path = WEIGHTS_FILE) -> Calibration | None:
    """None when no calibration has been fitted: answers then carry no confidence."""
    if not path.exists():
        return None
    return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
