"""Answerability before generation: refuse a question the evidence does not answer
without spending seconds of generation on it.

On ClapNQ the unanswerable half always retrieves a passage on the very subject, and
the 0.5B generator then writes a fluent answer from it; after generation the
confidence model had few more signals than before it (its log-probabilities and a
yes/no self-check were measured and did not separate the halves: docs/EVALUATION.md).
What separates them best is cheap and known before the generator runs: how close the
question is to the best evidence sentences in meaning, the retrieval scores and
margin, and how much of the question the best sentence holds. Those need no decoding,
so the gate's weights are fitted on every question of a set's dev split
(`scripts/fit_answerability.py`), hundreds of rows where the full pipeline allowed
dozens, and a refused question costs milliseconds.

The scores are those of the embedders, and the questions' languages, the weights were
fitted on (MiniLM on English, e5 on Chinese); elsewhere (a user's own embedder, English
on an e5 collection) a dense score sits in another band, so no gate applies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from qa.answer.answerability import Outcome, answer_features
from qa.answer.confidence import Calibration
from qa.answer.extraction import Candidate
from qa.models.protocols import Embedder
from qa.text import detect

GATE_WEIGHTS_FILE = Path(__file__).with_name("answerability_weights.json")

GATE_FEATURES: tuple[str, ...] = (
    "dense_top",
    "dense_margin",
    "evidence_share",
    "passage_coverage",
    "best_coverage",
    "typed_question",
    "type_found",
    "yesno",
    "chinese",
    "sentence_similarity",
)
"""What is known before the generator runs: retrieval, the extractive candidates, and
the question's closeness in meaning to the best of them."""

FollowUp = Literal["rewritten", "as_asked"]
"""A question with a history: 'rewritten' where the contextualiser carried the earlier
turns' terms into its query, 'as_asked' where the question stood on its own."""

# The best few candidates by terms and answer type: the sentence that answers a
# paraphrased question is among them far more often than not, and embedding a
# handful of sentences costs a few milliseconds where every evidence sentence would
# cost tens.
_SIMILARITY_SENTENCES = 8


def sentence_similarity(question: str, found: Sequence[Candidate], embedder: Embedder) -> float:
    """The highest cosine between the question and one of its best candidate sentences."""
    if not found:
        return 0.0
    sentences = [c.sentence for c in found[:_SIMILARITY_SENTENCES]]
    vectors = embedder.embed_queries([question, *sentences])
    return float(np.max(vectors[1:] @ vectors[0]))


@dataclass(frozen=True)
class GateCalibration:
    calibration: Calibration
    applies_to: frozenset[tuple[str, str]]
    """The (embedder manifest name, question language) pairs the weights were fitted on."""
    follow_up_threshold: float | None = None
    """The threshold for a follow-up in a conversation, whose standalone query carries
    the earlier turns' terms and so scores lower than a question asked alone: chosen
    on MTRAG-UN's dev conversations (`scripts/eval_conversations.py fit-follow-up`)."""
    as_asked_threshold: float | None = None
    """The threshold for a follow-up the contextualiser left as asked: its query holds
    no earlier terms, but its wording is a conversation's, not a search box's; chosen
    on the same dev conversations, jointly with the one above."""

    def applies(self, embedder: Embedder, question: str) -> bool:
        return (embedder.info["name"], detect(question)) in self.applies_to

    def score(self, features: dict[str, float]) -> float:
        return self.calibration.score({k: features[k] for k in GATE_FEATURES})

    def threshold(self, follow_up: FollowUp | None) -> float:
        if follow_up == "rewritten" and self.follow_up_threshold is not None:
            return self.follow_up_threshold
        if follow_up == "as_asked" and self.as_asked_threshold is not None:
            return self.as_asked_threshold
        return self.calibration.threshold

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> GateCalibration:
        pairs = data.get("applies_to")
        if not isinstance(pairs, dict) or not pairs:
            raise ValueError("the answerability weights must name the embedders they fit")
        calibration = Calibration.from_dict(data)
        unknown = set(calibration.weights) - set(GATE_FEATURES)
        if unknown:
            raise ValueError(f"answerability weights use post-generation features: {unknown}")
        follow_up = data.get("follow_up_threshold")
        as_asked = data.get("follow_up_as_asked_threshold")
        return cls(
            calibration,
            frozenset((str(e), str(lang)) for e, langs in pairs.items() for lang in langs),
            None if follow_up is None else float(str(follow_up)),
            None if as_asked is None else float(str(as_asked)),
        )


@lru_cache(maxsize=4)
def load_gate(path: Path = GATE_WEIGHTS_FILE) -> GateCalibration | None:
    if not path.exists():
        return None
    return GateCalibration.from_dict(json.loads(path.read_text(encoding="utf-8")))


def follow_up_kind(query: str, question: str, history: Sequence[object]) -> FollowUp | None:
    """Which threshold a question is held to: that of a question asked alone, of a
    follow-up whose query the contextualiser rewrote, or of one it left as asked."""
    if not history:
        return None
    return "rewritten" if query.strip() != question.strip() else "as_asked"


@dataclass(frozen=True)
class Screened:
    features: dict[str, float]
    score: float | None
    """The probability the question is answerable; None where no gate applies."""
    refused: bool


def gate_features(question: str, before: Outcome, embedder: Embedder) -> dict[str, float]:
    """Every feature known before generation, the gate's among them."""
    similarity = sentence_similarity(question, before.candidates, embedder)
    return answer_features(question, before) | {"sentence_similarity": similarity}


def screen(
    question: str,
    before: Outcome,
    embedder: Embedder,
    threshold: float | None,
    *,
    follow_up: FollowUp | None = None,
) -> Screened:
    """The gate's verdict on one question, from its outcome before generation.
    `threshold` None means the fitted one (for a follow-up, its kind's); 0
    computes the score but refuses nothing. Where no gate applies, the sentences are
    not embedded: nothing else reads their similarity."""
    gate = load_gate()
    if gate is None or not gate.applies(embedder, question):
        return Screened(answer_features(question, before), None, False)
    features = gate_features(question, before, embedder)
    score = gate.score(features)
    limit = gate.threshold(follow_up) if threshold is None else threshold
    return Screened(features, score, score < limit)
