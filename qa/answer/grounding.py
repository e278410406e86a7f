"""Attach each answer sentence to the passage that supports it, with a verbatim quote.

The application owns citations: small models asked to write [n] markers copy or
misplace them. A sentence is supported by a passage when most of its content
words (CJK: character bigrams) occur in the passage, or, for English, when it
is semantically close to one of the passage's sentences; and in either case
every number it states occurs in the passage (in a table, in the row of what the
sentence is about: `table_rows.py`), and the two agree on negation (`polarity.py`).
Unsupported sentences are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.answer.polarity import contradicts
from qa.answer.prompts import Passage
from qa.answer.table_rows import misread_column, misread_row
from qa.models.protocols import Vectors
from qa.text import content_tokens, numbers, sentence_spans


@dataclass(frozen=True)
class Support:
    passage: Passage
    score: float
    quote_start: int
    quote_end: int
    contradicted: bool = False
    """The passage most on point says the opposite of the sentence (a dropped or an
    added "not"): the answer states the quote instead."""

    @property
    def quote(self) -> str:
        return self.passage.text[self.quote_start : self.quote_end]


@dataclass(frozen=True)
class GroundedSentence:
    text: str
    support: Support | None
    """None: the sentence states nothing checkable (e.g. 'Yes.')."""


@dataclass(frozen=True)
class Grounding:
    sentences: list[GroundedSentence]
    dropped: list[str]
    corrected: list[str] = field(default_factory=list)
    """Generated sentences replaced by the words of the passage they contradicted."""

    @property
    def found(self) -> bool:
        return any(s.support is not None for s in self.sentences)


SentenceEmbedder = Callable[[Sequence[str]], Vectors]


_LIST_MARK = re.compile(r"^\s*(?:\(\w{1,3}\)|\d{1,3}[.)])\s+")


def plain_quote(quote: str) -> str:
    """A passage sentence as an answer sentence: without its list number or Markdown
    emphasis (the citation keeps the verbatim quote)."""
    return _LIST_MARK.sub("", quote.replace("**", "").replace("__", "")).strip()


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text, 0, len(text))]


def _best_quote(sentence_tokens: set[str], passage: Passage) -> tuple[int, int, float]:
    best = (0, len(passage.text), 0.0)
    for start, end in sentence_spans(passage.text, 0, len(passage.text)):
        tokens = content_tokens(passage.text[start:end])
        if not tokens:
            continue
        overlap = len(sentence_tokens & tokens)
        score = overlap / len(sentence_tokens) + 0.01 * overlap / len(tokens)
        if score > best[2]:
            best = (start, end, score)
    return best


class Grounder:
    """`threshold` is the share of a sentence's content words a passage must hold;
    `semantic_threshold` the cosine at which the embedder deems two sentences to say
    the same thing. Each embedder has its own band (e5 scores unrelated sentences
    0.8), so the second comes from the embedder, not from one shared constant."""

    def __init__(
        self,
        threshold: float,
        embed: SentenceEmbedder | None = None,
        semantic_threshold: float | None = None,
    ) -> None:
        self.threshold = threshold
        self.embed = embed
        self.semantic_threshold = semantic_threshold or threshold

    def _semantic(self, sentence: str, passages: Sequence[Passage]) -> list[tuple[float, int, int]]:
        """Per passage: best cosine of the sentence to one of its sentences, and that span."""
        if self.embed is None:
            return [(0.0, 0, 0)] * len(passages)
        spans = [sentence_spans(p.text, 0, len(p.text)) for p in passages]
        texts = [sentence] + [
            p.text[s:e] for p, ps in zip(passages, spans, strict=True) for s, e in ps
        ]
        vectors = self.embed(texts)
        sims = vectors[1:] @ vectors[0]
        out: list[tuple[float, int, int]] = []
        offset = 0
        for ps in spans:
            if not ps:
                out.append((0.0, 0, 0))
                continue
            local = sims[offset : offset + len(ps)]
            i = int(np.argmax(local))
            out.append((float(local[i]), ps[i][0], ps[i][1]))
            offset += len(ps)
        return out

    def support(
        self, sentence: str, passages: Sequence[Passage], semantic: bool, given: set[str]
    ) -> Support | None:
        tokens = content_tokens(sentence)
        stated = numbers(sentence) - given
        sims = self._semantic(sentence, passages) if semantic else [(0.0, 0, 0)] * len(passages)
        best: Support | None = None
        veto: Support | None = None
        for passage, (sim, s_start, s_end) in zip(passages, sims, strict=True):
            # The generator saw the title and section too ("BIO210 Assessment Policy").
            chunk = passage.hit.chunk
            seen = f"{chunk.title}\n{chunk.section or ''}\n{passage.text}"
            if not stated <= numbers(seen):
                continue
            # Each signal as a multiple of its own bar, so they compare.
            lexical = len(tokens & content_tokens(seen)) / len(tokens) / self.threshold
            q_start, q_end, q_score = _best_quote(tokens, passage)
            semantic_score = sim / self.semantic_threshold
            if semantic_score > lexical and semantic_score > q_score / self.threshold:
                q_start, q_end = s_start, s_end
            score = max(lexical, semantic_score)
            row = None
            if score >= 1.0:
                row = misread_row(sentence, stated, passage.text) or misread_column(
                    sentence, stated, passage.text
                )
            if row == (0, 0):
                continue
            if row is not None:
                if veto is None or score > veto.score:
                    veto = Support(passage, score, *row, contradicted=True)
                continue
            if score >= 1.0 and contradicts(sentence, passage.text[q_start:q_end]):
                if veto is None or score > veto.score:
                    veto = Support(passage, score, q_start, q_end, contradicted=True)
                continue
            if score >= 1.0 and (best is None or score > best.score):
                best = Support(passage, score, q_start, q_end)
        # The passage most on point says the opposite: a weaker match elsewhere
        # ("(4) A landlord may only claim against the bond") must not rescue the sentence.
        if veto is not None and (best is None or veto.score >= best.score):
            return veto
        return best

    def run(
        self,
        answer: str,
        passages: Sequence[Passage],
        *,
        question: str = "",
        semantic: bool = True,
    ) -> Grounding:
        """Numbers the question itself states ("a mark of 68") need no passage support."""
        given = numbers(question)
        sentences: list[GroundedSentence] = []
        dropped: list[str] = []
        corrected: list[str] = []
        for sentence in split_sentences(answer):
            if not content_tokens(sentence):
                sentences.append(GroundedSentence(sentence, None))
                continue
            found = self.support(sentence, passages, semantic, given)
            if found is None:
                dropped.append(sentence)
            elif found.contradicted:
                corrected.append(sentence)
                sentences.append(GroundedSentence(plain_quote(found.quote), found))
            else:
                sentences.append(GroundedSentence(sentence, found))
        return Grounding(sentences, dropped, corrected)
