"""Legal divisions (parts, chapters, sections, articles, clauses) and numbered headings
found in plain text, placed in one hierarchy of sections.

Statutes, regulations, contracts and standards often arrive as plain text, PDF or
DOCX with no heading markup, yet their divisions are what a citation should name
("Part 3 > Section 12", "第二章 > 第十二条"). The lines that open a division are found
by qa.ingest.legal_divisions; numbered headings ("1. Purpose", "2.3 Scope", "一、总则",
"（二）适用范围"), found by qa.ingest.numbered_headings, are sections too, nested by
their numbers.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.ingest import legal_divisions, numbered_headings
from qa.ingest.cn_numerals import CN_NUM
from qa.ingest.line_shape import SPACE
from qa.ingest.numbered_headings import Numbered
from qa.ingest.section_levels import (
    ARTICLE,
    BELOW_HEADINGS,
    CLAUSE,
    NUMBERED,
    NUMBERED_DEPTH,
    OUTER_ARTICLE,
)
from qa.ingest.toc import toc_entry
from qa.records import Span

_CN_CLAUSE_LABEL = re.compile(rf"第(?:{CN_NUM})款")
_EN_CLAUSE_LABEL = re.compile(r"\(\d+[a-z]?\)")


@dataclass(frozen=True)
class _Marker:
    """A division marker at the start of a line, before it is placed in the hierarchy."""

    offset: int
    line: int
    level: int
    label: str
    word: str
    number: str = ""
    """The article number, for telling the clause "12(2)" of article 12 from a stray one."""
    clause: str | None = None
    """A clause opened on the same line: "Section 12(2) ..." or "第十二条第二款 ..."."""
    numbering: Numbered | None = None
    """A numbered heading's numbering, which places it among the others."""


def is_clause(label: str) -> bool:
    """Whether a section path ends at a clause: "(2)" or "第二款".

    Clauses subdivide a provision that is usually read whole, so the chunker keeps
    them together when the provision fits and only prefers their starts as cut points.
    """
    last = label.rsplit(" > ", 1)[-1]
    return bool(_EN_CLAUSE_LABEL.fullmatch(last) or _CN_CLAUSE_LABEL.fullmatch(last))


def _markers(text: str, explicit: set[int], skip: Sequence[tuple[int, int]]) -> list[_Marker]:
    """Every line that opens a division, in order, before placing them in the hierarchy."""
    found: list[_Marker] = []
    numbered: list[tuple[int, int, Numbered]] = []
    heading_lines = set(explicit)
    previous, previous_start = "", -1
    offset = 0
    ranges, current = sorted(skip), 0
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip(SPACE)]
    following = {a: lines[b] for a, b in itertools.pairwise(filled)}
    order = {line: n for n, line in enumerate(filled)}
    for index, line in enumerate(lines):
        body = line.lstrip(SPACE)
        start = offset + len(line) - len(body)
        while current < len(ranges) and ranges[current][1] <= offset:
            current += 1
        skipped = current < len(ranges) and ranges[current][0] <= offset
        if body and not skipped and not toc_entry(body):
            match = (
                legal_divisions.english(body, previous)
                or legal_divisions.chinese(body, previous, previous_start in heading_lines)
                or legal_divisions.clause(body, previous)
            )
            heading = None
            if match is None and offset not in explicit:
                heading = numbered_headings.heading(body, previous, following.get(index, ""))
            if match is not None:
                level, label, word, number, clause = match
                found.append(_Marker(start, offset, level, label, word, number, clause))
                heading_lines.add(offset)
            elif heading is not None:
                numbering, label = heading
                number = ".".join(map(str, numbering.parts))
                numbered.append((order[index], len(found), numbering))
                found.append(
                    _Marker(
                        start, offset, NUMBERED, label, numbering.style, number, None, numbering
                    )
                )
        previous, previous_start = line, offset
        offset += len(line) + 1
    listed = numbered_headings.list_items(numbered)
    return [m for i, m in enumerate(found) if i not in listed]


def _article_levels(markers: list[_Marker]) -> dict[str, int]:
    """Sections inside articles (or articles inside sections): whichever comes first is outer."""
    words = [m.word for m in markers if m.level == ARTICLE and m.word in {"section", "article"}]
    if "section" in words and "article" in words:
        return {words[0]: OUTER_ARTICLE}
    return {}


def sections(
    text: str,
    headings: Sequence[tuple[int, int, str]] = (),
    skip: Sequence[tuple[int, int]] = (),
) -> list[Span]:
    """Section spans from explicit (offset, level, heading) triples and the legal divisions
    in the text, the divisions nested under the heading whose section holds them.

    Lines starting inside a `skip` range (a code block) are never divisions.
    """
    explicit = sorted(headings)
    markers = _markers(text, {offset for offset, _, _ in explicit}, skip)
    outer = _article_levels(markers)
    # The open divisions below the current explicit heading: level -> (word, number).
    open_: dict[int, tuple[str, str]] = {}
    article: str | None = None  # number of the open article, which clauses belong to
    events = [(offset, 0, level, heading) for offset, level, heading in explicit]
    events += [(m.offset, 1, i, "") for i, m in enumerate(markers)]
    merged: list[tuple[int, int, str]] = []
    explicit_lines: set[int] = set()
    # The open numbered headings, outermost first; the i-th is at level NUMBERED + i.
    numbered: list[Numbered] = []
    rank: dict[str, int] = {}
    for m in markers:
        if m.numbering is not None:
            rank.setdefault(m.numbering.style, len(rank))
    for offset, kind, index, heading in sorted(events):
        if kind == 0:
            merged.append((offset, index, heading))
            explicit_lines.add(offset)
            open_.clear()
            numbered.clear()
            inner = legal_divisions.english(heading, "") or legal_divisions.chinese(
                heading, "", True
            )
            article = inner[3] if inner and inner[0] == ARTICLE else None
            continue
        m = markers[index]
        if m.line in explicit_lines or offset in explicit_lines:
            continue
        entries: list[tuple[int, str, tuple[str, str]]] = []
        if m.numbering is not None:
            if numbered and numbered[-1] == m.numbering:
                continue  # a running page header repeating the open heading
            while numbered and not numbered[-1].contains(m.numbering, rank):
                numbered.pop()
            if len(numbered) == NUMBERED_DEPTH:
                continue
            entries.append((NUMBERED + len(numbered), m.label, (m.word, m.number)))
            numbered.append(m.numbering)
            article = m.number
        elif m.level == CLAUSE:
            if article is None or (m.number and m.number != article):
                continue
            entries.append((CLAUSE, m.label, ("clause", m.label)))
        else:
            level = outer.get(m.word, m.level)
            # A running page header repeats the open division; it opens nothing new.
            if open_.get(level) != (m.word, m.number):
                if level < NUMBERED:
                    numbered.clear()
                entries.append((level, m.label, (m.word, m.number)))
                article = m.number if level in (OUTER_ARTICLE, ARTICLE) else None
            if m.clause:
                entries.append((CLAUSE, m.clause, ("clause", m.clause)))
        for level, label, key in entries:
            for deeper in [lv for lv in open_ if lv >= level]:
                del open_[deeper]
            open_[level] = key
            merged.append((offset, BELOW_HEADINGS + level, label))
    return [s for s in heading_sections(merged, len(text)) if s.end > s.start]


def heading_sections(headings: list[tuple[int, int, str]], text_length: int) -> list[Span]:
    """Sections from (offset, level, heading) triples: each runs to the next heading."""
    spans: list[Span] = []
    path: list[tuple[int, str]] = []
    for i, (offset, level, heading) in enumerate(headings):
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, heading))
        end = headings[i + 1][0] if i + 1 < len(headings) else text_length
        spans.append(Span(offset, end, " > ".join(h for _, h in path)))
    return spans
