"""Split a document into passages that fit the embedder, on natural boundaries.

Chunks are exact slices of the document text, so a chunk's offsets and any
quote taken from it can be checked against the stored document. Page breaks
are hard boundaries (a citation names one page); paragraphs are preferred
boundaries; sentences (English and CJK punctuation) are the smallest unit
except for a sentence longer than the whole budget, which is cut by tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qa.ingest.document import Document, Span

# A sentence ends at . ! ? (then closing quotes or brackets, then a space) or at
# CJK 。！？； (then optional closers; Chinese puts no space after them).
_SENTENCE_END = re.compile(r"[.!?][\"'”’」』）)\]]*(?=\s)|[。！？；][\"'”’」』）)\]]*")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_WORD_OR_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+")


@dataclass(frozen=True)
class ChunkerConfig:
    max_tokens: int = 200
    overlap_tokens: int = 32

    def as_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "overlap_tokens": self.overlap_tokens}


@dataclass(frozen=True)
class Chunk:
    document_id: str
    ordinal: int
    start: int
    end: int
    text: str
    page: int | None
    section: str | None

    @property
    def chunk_id(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


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


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence and line spans within [start, end)."""
    spans: list[tuple[int, int]] = []
    for line_match in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line_match.start()
        line_end = start + line_match.end()
        cursor = line_start
        for m in _SENTENCE_END.finditer(text, line_start, line_end):
            s, e = _strip(text, cursor, m.end())
            if e > s:
                spans.append((s, e))
            cursor = m.end()
        s, e = _strip(text, cursor, line_end)
        if e > s:
            spans.append((s, e))
    return spans


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

    def _units(self, text: str, start: int, end: int) -> list[_Unit]:
        units: list[_Unit] = []
        cursor = start
        boundaries = [m.start() for m in _PARAGRAPH.finditer(text, start, end)] + [end]
        for boundary in boundaries:
            first = True
            for s, e in sentence_spans(text, cursor, boundary):
                tokens = self._count(text[s:e])
                spans = (
                    [(s, e)] if tokens <= self.config.max_tokens else self._split_long(text, s, e)
                )
                for ps, pe in spans:
                    units.append(_Unit(ps, pe, self._count(text[ps:pe]), first))
                    first = False
            cursor = boundary
        return units

    def _section(self, doc: Document, offset: int) -> str | None:
        found: Span | None = None
        for span in doc.sections:
            if span.start <= offset < span.end:
                found = span
        return found.label if found else None

    def run(self, doc: Document) -> list[Chunk]:
        budget, overlap = self.config.max_tokens, self.config.overlap_tokens
        chunks: list[Chunk] = []
        for region_start, region_end, page in _regions(doc):
            units = self._units(doc.text, region_start, region_end)
            i = 0
            while i < len(units):
                j, used = i, 0
                while j < len(units) and used + units[j].tokens <= budget:
                    used += units[j].tokens
                    j += 1
                j = max(j, i + 1)
                # Close early at a paragraph break rather than split the next paragraph,
                # when that still leaves the chunk at least half full.
                if j < len(units) and not units[j].paragraph_start:
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
                        section=self._section(doc, start),
                    )
                )
                if j >= len(units):
                    break
                # Carry trailing sentences into the next chunk, up to the overlap budget.
                back, carried = j, 0
                # The next chunk must still reach unit j, or it would add nothing new.
                room = min(overlap, budget - units[j].tokens)
                while back - 1 > i and carried + units[back - 1].tokens <= room:
                    back -= 1
                    carried += units[back].tokens
                i = back
        return chunks
