"""Extractive answer candidates: the evidence sentence that best answers the question.

The generator phrases; the candidate is the backbone. When the draft is refused or
grounding drops all of it, the best candidate's own sentence (cited, verbatim) is the
answer instead of "not found", and a yes/no question is answered yes or no with the
sentence that decides it ("Can I drive after taking it?" against "Do not drive or
operate machinery after taking it" is a "No", not a refusal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer.answer_types import AnswerType, expected_type, new_type_spans
from qa.answer.evidence_selection import asked_terms, sentence_score
from qa.answer.grounding import GroundedSentence, Grounding, Support, plain_quote
from qa.answer.polarity import negated
from qa.answer.prompts import Passage
from qa.text import Language, coverage, sentence_spans


@dataclass(frozen=True)
class Candidate:
    passage: Passage
    start: int
    end: int
    """The sentence's span in `passage.text`."""
    score: float
    coverage: float
    """Share of the question's terms the sentence holds."""
    typed: bool
    """The sentence holds an answer of the expected kind that the question does not."""

    @property
    def sentence(self) -> str:
        return self.passage.text[self.start : self.end]


def candidates(question: str, passages: Sequence[Passage]) -> list[Candidate]:
    """Every evidence sentence as a candidate, best first."""
    terms = asked_terms(question)
    kind = expected_type(question)
    out: list[Candidate] = []
    for rank, passage in enumerate(passages):
        for start, end in sentence_spans(passage.text, 0, len(passage.text)):
            sentence = passage.text[start:end]
            typed = kind not in ("yesno", "other") and bool(
                new_type_spans(sentence, kind, question)
            )
            out.append(
                Candidate(
                    passage,
                    start,
                    end,
                    sentence_score(question, terms, kind, sentence, rank),
                    coverage(terms, sentence),
                    typed,
                )
            )
    return sorted(out, key=lambda c: c.score, reverse=True)


def yes_or_no(question: str, sentence: str) -> bool:
    """True for yes: the sentence agrees with the question's polarity ("Can I drive?"
    against "Do not drive" is a no; "Is it not allowed?" against "It is forbidden" a yes)."""
    return negated(question) == negated(sentence)


_YES_NO: dict[Language, tuple[str, str]] = {"en": ("Yes.", "No."), "zh": ("是。", "否。")}


def extractive_grounding(
    question: str, candidate: Candidate, kind: AnswerType, language: Language
) -> Grounding:
    """The candidate's sentence as a grounded answer, with a yes or no first for a
    yes/no question."""
    support = Support(candidate.passage, candidate.score, candidate.start, candidate.end)
    sentences = [GroundedSentence(plain_quote(candidate.sentence), support)]
    if kind == "yesno":
        yes, no = _YES_NO[language]
        verdict = yes if yes_or_no(question, candidate.sentence) else no
        sentences.insert(0, GroundedSentence(verdict, None))
    return Grounding(sentences, [])
