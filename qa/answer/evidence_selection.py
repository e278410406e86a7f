"""Context compression: the generator reads the best sentences of the evidence, not
whole chunks.

On two CPU cores the prompt's length is most of the wait for the first token (five
160-token chunks took about 2 s to read before a word came out), and a 0.5B model
picks the wrong fact more often the more facts it is shown. So each evidence passage
is cut to one contiguous window around its sentence most on point (the question's
terms, an answer of the expected type), grown by neighbours while the budget lasts.
A window is a verbatim slice of its chunk and records where it starts, so grounding
still quotes the passage word for word and a citation can be located in the chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.answer.answer_types import AnswerType, expected_type, new_type_spans
from qa.answer.prompts import Passage
from qa.records import SearchHit
from qa.text import coverage, question_terms, sentence_spans

# A sentence holding an answer of the kind asked for is worth a quarter of the
# question's terms; each rank down costs a little, so ties go to the better passage.
_TYPE_BONUS = 0.25
_RANK_COST = 0.05
# A neighbour of a chosen sentence often carries its subject ("It was ..."): growing a
# window by one is preferred to opening a weak window elsewhere.
_NEIGHBOUR_BONUS = 0.1
# What a passage costs beyond its text: the <passage n=.. title=..> fence.
_FENCE_TOKENS = 16


# The words of "how long", "how many", "how much": they say what kind of answer is
# wanted, not what it is about, and would favour a sentence that merely repeats them.
_TYPE_WORDS = frozenset({"long", "many", "much", "old", "far"})


def asked_terms(question: str) -> set[str]:
    return question_terms(question) - _TYPE_WORDS


def sentence_score(
    question: str, terms: set[str], kind: AnswerType, sentence: str, rank: int
) -> float:
    typed = kind not in ("yesno", "other") and bool(new_type_spans(sentence, kind, question))
    return coverage(terms, sentence) + (_TYPE_BONUS if typed else 0.0) - _RANK_COST * rank


@dataclass
class _Window:
    rank: int
    hit: SearchHit
    spans: list[tuple[int, int]]
    scores: list[float]
    lo: int
    hi: int

    def text(self) -> str:
        return self.hit.chunk.text[self.spans[self.lo][0] : self.spans[self.hi][1]]

    def grown(self, index: int) -> str:
        lo, hi = min(self.lo, index), max(self.hi, index)
        return self.hit.chunk.text[self.spans[lo][0] : self.spans[hi][1]]


def _windows(question: str, hits: Sequence[SearchHit]) -> list[_Window]:
    terms = asked_terms(question)
    kind = expected_type(question)
    windows: list[_Window] = []
    for rank, hit in enumerate(hits):
        text = hit.chunk.text
        spans = sentence_spans(text, 0, len(text))
        if not spans:
            continue
        scores = [sentence_score(question, terms, kind, text[s:e], rank) for s, e in spans]
        best = max(range(len(spans)), key=scores.__getitem__)
        # A passage none of whose sentences names anything asked about adds only noise,
        # unless it is the best the retriever has (cross-language evidence has no terms).
        if windows and scores[best] + _RANK_COST * rank <= 0.0:
            continue
        windows.append(_Window(rank, hit, spans, scores, best, best))
    return windows


def compress(
    question: str,
    hits: Sequence[SearchHit],
    budget_tokens: int,
    count: Callable[[str], int],
) -> list[Passage]:
    """Passages cut to their best windows, in retrieval order, within the budget.

    Each passage first gets its best sentence (the top passage's always, even over
    budget: a question must be answerable from something); then windows grow by the
    best-scoring neighbour that still fits, until none does."""
    kept: list[_Window] = []
    spent = 0
    for window in _windows(question, hits):
        cost = count(window.text()) + _FENCE_TOKENS
        if kept and spent + cost > budget_tokens:
            continue
        kept.append(window)
        spent += cost
    while True:
        options = [
            (w.scores[i] + _NEIGHBOUR_BONUS, n, i)
            for n, w in enumerate(kept)
            for i in (w.lo - 1, w.hi + 1)
            if 0 <= i < len(w.spans)
        ]
        grew = False
        for _, n, i in sorted(options, reverse=True):
            window = kept[n]
            extra = count(window.grown(i)) - count(window.text())
            if spent + extra <= budget_tokens:
                window.lo, window.hi = min(window.lo, i), max(window.hi, i)
                spent += extra
                grew = True
                break
        if not grew:
            break
    return [
        Passage(n, w.hit, w.text(), start=w.spans[w.lo][0]) for n, w in enumerate(kept, start=1)
    ]
