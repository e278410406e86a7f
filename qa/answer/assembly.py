"""From a grounding to the Answer a user sees: [n] after each supported sentence,
numbered citations, or the refusal in the question's language."""

from __future__ import annotations

import re
from typing import Any

from qa.answer.grounding import Grounding, Support
from qa.answer.prompts import CLARIFICATIONS, REFUSALS
from qa.page_regions import regions
from qa.records import Answer, Citation
from qa.text import Language

_MARKER = re.compile(r"\s?\[\d+\]")


def without_markers(text: str) -> str:
    """An answer's text without the [n] marks `assemble` put after its sentences: for
    scoring it, checking it, or showing it where its citations are not at hand."""
    return _MARKER.sub("", text)


def not_found(language: Language, timings: dict[str, float]) -> Answer:
    return Answer(REFUSALS[language], False, [], language, timings)


def clarify(language: Language, standalone: str, timings: dict[str, float]) -> Answer:
    """A question back: the question names nothing to search for, even with its history."""
    return Answer(
        CLARIFICATIONS[language],
        False,
        [],
        language,
        timings,
        standalone_question=standalone,
        clarification=True,
    )


def assemble(grounding: Grounding, language: Language, timings: dict[str, float]) -> Answer:
    """The answer text with [n] after each supported sentence, and its citations."""
    if not grounding.found:
        return not_found(language, timings)
    numbering: dict[str, int] = {}
    citations: list[Citation] = []
    parts: list[str] = []
    for sentence in grounding.sentences:
        support = sentence.support
        if support is None:
            parts.append(sentence.text)
            continue
        chunk = support.passage.hit.chunk
        n = numbering.get(chunk.chunk_id)
        if n is None:
            n = numbering[chunk.chunk_id] = len(numbering) + 1
            citations.append(
                Citation(
                    n=n,
                    document=chunk.document_id,
                    chunk_id=chunk.chunk_id,
                    page=chunk.page,
                    text=support.passage.text,
                    quote=support.quote,
                    score=round(support.passage.hit.score, 6),
                    quote_start=support.quote_start,
                    quote_end=support.quote_end,
                    title=chunk.title,
                    section=chunk.section,
                    regions=_regions(support),
                )
            )
        separator = "" if language == "zh" else " "
        parts.append(f"{sentence.text}{separator}[{n}]")
    return Answer(("" if language == "zh" else " ").join(parts), True, citations, language, timings)


def _regions(support: Support) -> list[dict[str, Any]]:
    """The passage's lines on its pages, the quote's marked, in the document's offsets."""
    passage = support.passage
    start = passage.hit.chunk.start + passage.start
    quote = (start + support.quote_start, start + support.quote_end)
    return regions(passage.hit.chunk.metadata, (start, start + len(passage.text)), quote)
