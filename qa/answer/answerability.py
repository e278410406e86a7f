"""The cheap signals an answer's confidence is computed from, gathered in one place so
the pipeline, the evaluation and the calibration script read the same numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer.answer_types import expected_type
from qa.answer.extraction import Candidate
from qa.answer.grounding import Grounding
from qa.answer.prompts import Passage
from qa.records import SearchHit
from qa.text import coverage, detect, question_terms


@dataclass(frozen=True)
class Outcome:
    """What happened to one question on its way through the pipeline."""

    hits: Sequence[SearchHit]
    evidence: Sequence[SearchHit]
    passages: Sequence[Passage]
    candidates: Sequence[Candidate]
    draft: Grounding | None
    """The generated draft's grounding; None when the model declined or never ran."""
    declined: bool
    final: Grounding | None
    fallback: bool
    logprobs: Sequence[float] = ()
    """The draft's tokens' log-probabilities, where the generator reports them."""


def _agrees(final: Grounding | None, best: Candidate | None) -> bool:
    """The answer rests on the best extractive candidate's sentence."""
    if final is None or best is None:
        return False
    for sentence in final.sentences:
        s = sentence.support
        if (
            s is not None
            and s.passage.hit.chunk.chunk_id == best.passage.hit.chunk.chunk_id
            and s.quote_start < best.end
            and best.start < s.quote_end
        ):
            return True
    return False


# The draft's opening tokens carry the model's choice of fact; what follows is mostly
# phrasing and the citation marker, which it writes with near certainty either way.
_OPENING_TOKENS = 16


def _logprob_features(logprobs: Sequence[float]) -> dict[str, float]:
    """Absent (not zero, which would read as certainty) when the backend gave none."""
    if not logprobs:
        return {}
    opening = logprobs[:_OPENING_TOKENS]
    return {
        "lp_mean": sum(logprobs) / len(logprobs),
        "lp_min": min(logprobs),
        "lp_opening": sum(opening) / len(opening),
    }


def answer_features(question: str, outcome: Outcome) -> dict[str, float]:
    dense = sorted((h.dense_score or 0.0 for h in outcome.hits), reverse=True)
    kind = expected_type(question)
    best = outcome.candidates[0] if outcome.candidates else None
    top = outcome.passages[0].hit.chunk if outcome.passages else None
    draft = outcome.draft
    drafted = len(draft.sentences) + len(draft.dropped) if draft is not None else 0
    return {
        "dense_top": dense[0] if dense else 0.0,
        "dense_margin": dense[0] - dense[1] if len(dense) > 1 else 0.0,
        "evidence_share": len(outcome.evidence) / len(outcome.hits) if outcome.hits else 0.0,
        "passage_coverage": coverage(question_terms(question), f"{top.title}\n{top.text}")
        if top is not None
        else 0.0,
        "best_coverage": best.coverage if best is not None else 0.0,
        "typed_question": float(kind not in ("yesno", "other")),
        "type_found": float(best is not None and best.typed),
        "yesno": float(kind == "yesno"),
        "model_declined": float(outcome.declined),
        "grounded": float(draft is not None and draft.found),
        "dropped_share": len(draft.dropped) / drafted if draft is not None and drafted else 0.0,
        "fallback": float(outcome.fallback),
        "agrees": float(_agrees(outcome.final, best)),
        "chinese": float(detect(question) == "zh"),
    } | _logprob_features(outcome.logprobs)
