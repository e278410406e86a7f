"""Split a document into passages that fit the embedder, on natural boundaries.

Chunks are exact slices of the document text, so a chunk's offsets and any
quote taken from it can be checked against the stored document. Page breaks
are hard boundaries (a citation names one page), and so are section starts: a
chunk holds one section (an article, a heading's text), never the end of one and
the start of the next, so its section path says what it is. A heading with no
text of its own stays with its first subsection, and clauses ("(2)", "第二款")
stay together while their provision fits. Paragraphs and clause starts are
preferred boundaries; sentences (English and CJK punctuation) are the smallest
unit except for a sentence longer than the whole budget, which is cut by tokens.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qa.ingest.structure import is_clause
from qa.records import Chunk, Document, Span
from qa.text import sentence_spans

_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_WORD_OR_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+")


@dataclass(frozen=True)
class ChunkerConfig:
    max_tokens: int = 200
    overlap_tokens: int = 32

    def as_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "overlap_tokens": self.overlap_tokens}


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    paragraph_start: bool


def _regions(doc: Document) -> list[tuple[int, int, int | None]]:
    """Stretches that no chunk may cross: whole pages, or the whole text."""
    if doc.pages:
        return [(p.start, p.end, int(p.label)) for p in doc.pages]
    return [(0, len(doc.text), None)]


def _bare_heading(text: str, span: Span) -> bool:
    """Whether a section holds only its heading line, before its first subsection."""
    own = " ".join(text[span.start : span.end].split()).rstrip(" #")
    return "\n" not in text[span.start : span.end].strip() and own.endswith(
        span.label.rsplit(" > ", 1)[-1]
    )


def _section_starts(text: str, sections: list[Span]) -> tuple[list[int], list[int]]:
    """Section starts where a chunk must begin, and those where it may preferably begin.

    A clause, or the first subsection of a heading that has no text of its own, is
    only a preferred start: the heading alone would be a chunk that says nothing.
    """
    hard: list[int] = []
    soft: list[int] = []
    previous: Span | None = None
    for span in sections:
        follows_bare_heading = (
            previous is not None
            and previous.end == span.start
            and span.label.startswith(previous.label + " > ")
            and _bare_heading(text, previous)
        )
        (soft if follows_bare_heading or is_clause(span.label) else hard).append(span.start)
        previous = span
    return hard, soft


def _between(offsets: list[int], low: int, high: int) -> bool:
    """Whether a sorted list holds an offset in (low, high]."""
    i = bisect.bisect_right(offsets, low)
    return i < len(offsets) and offsets[i] <= high


def _section(
    text: str, sections: list[Span], starts: list[int], start: int, end: int
) -> str | None:
    """The path of the section a chunk belongs to.

    A bare heading the chunk only passes through on the way to its subsection does
    not count; of the sections that do, the path they share.
    """
    spans: list[Span] = []
    k = bisect.bisect_left(starts, end) - 1
    while k >= 0 and sections[k].end > start:
        spans.append(sections[k])
        k -= 1
    if not spans:
        return None
    labels = [span.label for span in spans]
    leaves = [
        span.label
        for span in spans
        if not (any(o.startswith(span.label + " > ") for o in labels) and _bare_heading(text, span))
    ]
    shared: list[str] = []
    for parts in zip(*(leaf.split(" > ") for leaf in leaves), strict=False):
        if len(set(parts)) > 1:
            break
        shared.append(parts[0])
    return " > ".join(shared) if shared else spans[-1].label


class Chunker:
    def __init__(self, config: ChunkerConfig, count_tokens: Callable[[str], int]) -> None:
        if config.overlap_tokens >= config.max_tokens:
            raise ValueError("chunk overlap must be smaller than the chunk size")
        self.config = config
        self._count = count_tokens

    def _split_long(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Cut a sentence longer than the budget at word (or CJK character) boundaries."""
        pieces: list[tuple[int, int]] = []
        piece_start: int | None = None
        piece_end = start
        for m in _WORD_OR_CJK.finditer(text, start, end):
            if piece_start is None:
                piece_start = m.start()
            elif self._count(text[piece_start : m.end()]) > self.config.max_tokens:
                pieces.append((piece_start, piece_end))
                piece_start = m.start()
            piece_end = m.end()
        if piece_start is not None:
            pieces.append((piece_start, piece_end))
        return pieces

    def _units(self, text: str, start: int, end: int, soft: list[int]) -> list[_Unit]:
        """Sentences of [start, end); those opening a paragraph or a clause are marked."""
        units: list[_Unit] = []
        cursor = start
        boundaries = [m.start() for m in _PARAGRAPH.finditer(text, start, end)] + [end]
        previous = start - 1
        for boundary in boundaries:
            first = True
            for s, e in sentence_spans(text, cursor, boundary):
                tokens = self._count(text[s:e])
                spans = (
                    [(s, e)] if tokens <= self.config.max_tokens else self._split_long(text, s, e)
                )
                for ps, pe in spans:
                    opens = first or _between(soft, previous, ps)
                    units.append(_Unit(ps, pe, self._count(text[ps:pe]), opens))
                    first = False
                    previous = ps
            cursor = boundary
        return units

    def run(self, doc: Document) -> list[Chunk]:
        budget, overlap = self.config.max_tokens, self.config.overlap_tokens
        sections = sorted((s for s in doc.sections if s.end > s.start), key=lambda s: s.start)
        starts = [s.start for s in sections]
        hard, soft = _section_starts(doc.text, sections)
        chunks: list[Chunk] = []
        for region_start, region_end, page in _regions(doc):
            units = self._units(doc.text, region_start, region_end, soft)
            cuts = [
                k
                for k in range(1, len(units))
                if _between(hard, units[k - 1].start, units[k].start)
            ] + [len(units)]
            i = 0
            while i < len(units):
                limit = cuts[bisect.bisect_right(cuts, i)]
                j, used = i, 0
                while j < limit and used + units[j].tokens <= budget:
                    used += units[j].tokens
                    j += 1
                j = max(j, i + 1)
                # Close early at a paragraph break rather than split the next paragraph,
                # when that still leaves the chunk at least half full.
                if j < limit and not units[j].paragraph_start:
                    for k in range(j - 1, i, -1):
                        if (
                            units[k].paragraph_start
                            and sum(u.tokens for u in units[i:k]) >= budget // 2
                        ):
                            j = k
                            break
                start, end = units[i].start, units[j - 1].end
                chunks.append(
                    Chunk(
                        document_id=doc.id,
                        ordinal=len(chunks),
                        start=start,
                        end=end,
                        text=doc.text[start:end],
                        page=page,
                        section=_section(doc.text, sections, starts, start, end),
                    )
                )
                if j >= len(units):
                    break
                if j == limit:
                    # A new section: carrying the end of the last one would mix the two.
                    i = j
                    continue
                # Carry trailing sentences into the next chunk, up to the overlap budget.
                back, carried = j, 0
                # The next chunk must still reach unit j, or it would add nothing new.
                room = min(overlap, budget - units[j].tokens)
                while back - 1 > i and carried + units[back - 1].tokens <= room:
                    back -= 1
                    carried += units[back].tokens
                i = back
        return chunks
