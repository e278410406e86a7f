"""Questions that ask two things at once.

"How often can a landlord increase the rent, and how much notice is required?": a small
model answers the first part and stops, and every sentence it wrote is grounded, so
nothing flags the missing half. Each later part that asks for an answer of a known kind
(a number, a duration, a date, ...) which no sentence of the answer gives about that
part's terms gets the evidence sentence that best answers it, quoted and cited like the
extractive fallback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from qa.answer.answer_types import expected_type, new_type_spans
from qa.answer.evidence_selection import asked_terms
from qa.answer.extraction import candidates
from qa.answer.grounding import GroundedSentence, Grounding, Support, plain_quote
from qa.answer.prompts import Passage
from qa.text import coverage

# Single spaces: a run of whitespace tried from each of its characters is quadratic.
_EN_PART = re.compile(r"(?:,\s|\s)and\s(?=(?:how|what|when|where|who|which)\b)", re.IGNORECASE)
_ZH_PART = re.compile(r"[，；,;](?=[^，；,;。？?]*(?:多少|几|多长|多久|哪|什么时候|何时|谁))")


_EN_ASKS = re.compile(
    r"(?:how|what|when|where|who|whom|whose|which|why|is|are|was|were|can|could|do|does|"
    r"did|should|must|may|will|would|has|have)\b",
    re.IGNORECASE,
)
_ZH_ASKS = re.compile(r"多少|几|多长|多久|哪|什么|何时|谁|怎么|如何|为什么|吗|是否")


def parts(question: str) -> list[str]:
    """The questions a question asks, in order; one for most. Every piece must ask
    something: "客运方面，固始站现有多少趟列车？" is one question after a topic."""
    pieces = [p.strip() for p in _ZH_PART.split(question) for p in _EN_PART.split(p)]
    pieces = [p for p in pieces if p]
    if len(pieces) < 2 or not all(_EN_ASKS.match(p) or _ZH_ASKS.search(p) for p in pieces):
        return [question]
    return pieces


def completed(
    question: str, grounding: Grounding, passages: Sequence[Passage], min_coverage: float
) -> Grounding:
    """`grounding` with a quoted sentence added for each later part it leaves unanswered;
    a part is added only from a sentence that holds an answer of the part's kind and at
    least `min_coverage` of its terms."""
    asked = parts(question)
    if len(asked) < 2:
        return grounding
    whole = asked_terms(question)
    sentences = list(grounding.sentences)
    for part in asked[1:]:
        kind = expected_type(part)
        if kind in ("other", "yesno"):
            continue
        terms = asked_terms(part)
        if any(
            new_type_spans(s.text, kind, question) and coverage(terms, s.text) > 0
            for s in sentences
        ):
            continue
        # On the part's own terms, and then on the whole question's: "how much notice is
        # required?" is about the rent increase the first part names.
        fitting = [c for c in candidates(part, passages) if c.typed and c.coverage >= min_coverage]
        if not fitting:
            continue
        best = max(fitting, key=lambda c: (coverage(whole, c.sentence), c.score))
        quoted = {(s.support.passage.n, s.support.quote_start) for s in sentences if s.support}
        if (best.passage.n, best.start) in quoted:
            continue
        support = Support(best.passage, best.score, best.start, best.end)
        sentences.append(GroundedSentence(plain_quote(best.sentence), support))
    return replace(grounding, sentences=sentences)
