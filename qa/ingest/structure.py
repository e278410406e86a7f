"""Legal divisions (parts, chapters, sections, articles, clauses) found in plain text.

Statutes, regulations, contracts and standards often arrive as plain text, PDF or
DOCX with no heading markup, yet their divisions are what a citation should name
("Part 3 > Section 12", "第二章 > 第十二条"). A division is taken only from a line
that starts with its marker and reads like a heading or the start of a provision;
a reference inside a sentence ("as provided in Section 12", "依照本法第十二条的规定")
is not one, including when a line wrap happens to put it at the start of a line.

Numbered headings ("1. Purpose", "2.3 Scope", "一、总则", "（二）适用范围") are sections
too, nested by their numbers. They are read from the shape of the whole line, since a
number also starts list items, amounts and dates: a short title starting with a capital
(or a CJK character) with no sentence punctuation; a single number only with its dot
("1 Scope" could be an address); not ending in a number (a contents line, an amount);
not continuing a sentence nor continued by one; and not one of a run of numbered lines
with nothing between them (a list).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.ingest.toc import toc_entry
from qa.records import Span

_PART, _CHAPTER, _DIVISION, _NUMBERED = 1, 2, 3, 4
# Numbered headings take the levels from _NUMBERED on, one a level of nesting.
_NUMBERED_DEPTH = 5
_OUTER_ARTICLE, _ARTICLE, _CLAUSE = 9, 10, 11
# Legal levels sit below every explicit heading level (DOCX goes down to Heading 9), so
# divisions found in the body nest under the heading whose section holds them.
_BELOW_HEADINGS = 10

_SPACE = " \t\u00a0\u3000"
_EN_WORDS = {
    "part": _PART,
    "chapter": _CHAPTER,
    "division": _DIVISION,
    "section": _ARTICLE,
    "sec.": _ARTICLE,
    "§": _ARTICLE,
    "article": _ARTICLE,
    "art.": _ARTICLE,
}
_EN_WORD = "|".join(
    re.escape(form)
    for word in _EN_WORDS
    if word != "§"
    for form in (word.capitalize(), word.upper())
)
_EN_MARKER = re.compile(
    rf"(?:(?P<word>{_EN_WORD})[ \t\u00a0]+|(?P<symbol>§)[ \t\u00a0]*)"
    r"(?P<num>\d+[A-Z]{0,2}(?:\.\d+)*|[IVXLCDM]+)(?!\w)"
    r"(?:\((?P<clause>\d+[a-z]?)\))?"
)
_EN_CLAUSE = re.compile(r"(?:(?P<num>\d+[A-Z]{0,2}))?\((?P<clause>\d+[a-z]?)\)(?=[ \t\u00a0]+\S)")
_CN_NUM = r"[零〇一二三四五六七八九十百千万两]+|[0-9０-９]+"
_CN_MARKER = re.compile(
    rf"第(?P<num>{_CN_NUM})(?P<kind>[编章节条款])(?:第(?P<clause>{_CN_NUM})款)?"
)
_CN_DIGITS = {
    ch: n for n, chars in enumerate(["零〇", "一", "二两", *"三四五六七八九"]) for ch in chars
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_CN_KINDS = {"编": _PART, "章": _CHAPTER, "节": _DIVISION, "条": _ARTICLE, "款": _CLAUSE}
# A character straight after "第十二条" that continues a reference, not a provision.
_CN_REFERENCE = set("的之所中至和或及与规以项内外下上、，,")
_CN_SEPARATORS = set("：:【〔［[（(．.")
_EN_SEPARATORS = set(".:—–-")
# Words that leave a sentence open at the end of a line: a marker on the next line is
# then the end of that sentence ("... as provided in / Section 12 of the Act").
_CONTINUATIONS = {
    "a", "accordance", "an", "and", "at", "by", "except", "for", "from", "in", "including",
    "of", "on", "or", "per", "pursuant", "see", "than", "that", "the", "this", "to", "under",
    "with", "within",
}  # fmt: skip
_TERMINAL = set(".;:!?。；：！？」』”）)")
_TITLE_CHARS = 80
# A title has none of these inside it, and none of the closing ones at its end.
_SENTENCE_PUNCT = set(".;!?。；！？，")
_CLOSING_PUNCT = set(",:：")
_ARABIC_DIGITS = set("0123456789")
_CN_NUMERALS = set("一二三四五六七八九十")
_CN_OPEN, _CN_CLOSE = set("(（"), set(")）")
_CN_CLAUSE_LABEL = re.compile(rf"第(?:{_CN_NUM})款")
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
    numbering: _Numbered | None = None
    """A numbered heading's numbering, which places it among the others."""


def _cn_number(numeral: str) -> str:
    """A Chinese or full-width numeral as Arabic digits, so "第十三条" and "第13条" match."""
    numeral = numeral.translate(_FULL_WIDTH)
    if numeral.isdigit():
        return str(int(numeral))
    total = section = digit = 0
    for ch in numeral:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch == "万":
            total += (section + digit) * 10000
            section = digit = 0
        else:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
    return str(total + section + digit)


def is_clause(label: str) -> bool:
    """Whether a section path ends at a clause: "(2)" or "第二款".

    Clauses subdivide a provision that is usually read whole, so the chunker keeps
    them together when the provision fits and only prefers their starts as cut points.
    """
    last = label.rsplit(" > ", 1)[-1]
    return bool(_EN_CLAUSE_LABEL.fullmatch(last) or _CN_CLAUSE_LABEL.fullmatch(last))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _title_label(marker: str, rest: str) -> str:
    """The whole line when the rest of it is a short title, else the marker alone."""
    body = rest.strip(_SPACE + "".join(_EN_SEPARATORS))
    if len(body) > _TITLE_CHARS or body[-1:] in _CLOSING_PUNCT or _SENTENCE_PUNCT & set(body):
        return _squash(marker)
    return _squash(marker + rest)


def _open_sentence(previous: str) -> bool:
    """Whether the previous line stops mid-sentence, so this line continues it."""
    words = previous.split()
    if not words:
        return False
    return words[-1][-1] in ",-" or words[-1] in _CONTINUATIONS


def _english(line: str, previous: str) -> tuple[int, str, str, str, str | None] | None:
    m = _EN_MARKER.match(line)
    if m is None:
        return None
    rest = line[m.end() :]
    after = rest.lstrip(_SPACE)
    clause = m.group("clause")
    if clause is None and (c := _EN_CLAUSE.match(after)) and not c.group("num"):
        clause = c.group("clause")
    starts_provision = rest[:1] in _SPACE and (
        after[:1].isupper() or after[:1] in "(\"“'" or after[:1] in _EN_SEPARATORS
    )
    if after and not (rest[0] in _EN_SEPARATORS or starts_provision or after[0].isdigit()):
        return None
    if _open_sentence(previous):
        return None
    word = (m.group("word") or m.group("symbol")).lower()
    word = {"sec.": "section", "§": "section", "art.": "article"}.get(word, word)
    marker = line[: m.end("num")]
    label = _squash(marker) if clause else _title_label(marker, rest)
    return _EN_WORDS[word], label, word, m.group("num"), f"({clause})" if clause else None


def _chinese(
    line: str, previous: str, after_heading: bool
) -> tuple[int, str, str, str, str | None] | None:
    m = _CN_MARKER.match(line)
    if m is None:
        return None
    rest = line[m.end() :]
    if rest and rest[0] not in _SPACE and rest[0] not in _CN_SEPARATORS:
        if rest[0] in _CN_REFERENCE or not "\u3400" <= rest[0] <= "\u9fff":
            return None
        # No separator after the marker: trust it only where a provision may begin.
        ended = not previous.strip(_SPACE) or previous.rstrip(_SPACE)[-1] in _TERMINAL
        if not (ended or after_heading):
            return None
    kind, clause = m.group("kind"), m.group("clause")
    if kind == "款":
        return _CLAUSE, _squash(line[: m.end()]), kind, "", None
    marker = line[: m.end("kind")]
    label = _squash(marker) if clause else _title_label(marker, rest)
    number = _cn_number(m.group("num"))
    return _CN_KINDS[kind], label, kind, number, f"第{clause}款" if clause else None


def _clause(line: str, previous: str) -> tuple[int, str, str, str, str | None] | None:
    """A line opening a numbered clause: "(2) A landlord ..." or "12(2) A landlord ..."."""
    m = _EN_CLAUSE.match(line)
    if m is None or _open_sentence(previous):
        return None
    if line[m.end() :].lstrip(_SPACE)[:1].islower():
        return None
    return _CLAUSE, f"({m.group('clause')})", "clause", m.group("num") or "", None


@dataclass(frozen=True)
class _Numbered:
    """A numbered heading's numbering: its style ("arabic"; "cn" for 一、; "cn-paren" for
    （一）) and its numbers, (2, 3) for "2.3"."""

    style: str
    parts: tuple[int, ...]

    def contains(self, other: _Numbered, rank: dict[str, int]) -> bool:
        """Whether `other` nests under this heading: "2" holds "2.3"; a style first
        seen earlier in the document holds a later one (一、 holds （一）)."""
        if self.style == other.style == "arabic":
            return other.parts[: len(self.parts)] == self.parts and other.parts != self.parts
        if self.style == other.style:
            return False
        return rank[self.style] < rank[other.style]


def _arabic_number(line: str) -> tuple[tuple[int, ...], int] | None:
    """(numbers, end) of "2.3" or "1." opening a line and followed by a blank."""
    parts: list[int] = []
    at = 0
    dotted = False
    while len(parts) < _NUMBERED_DEPTH:
        start = at
        while at < len(line) and line[at] in _ARABIC_DIGITS and at - start < 3:
            at += 1
        digits = line[start:at]
        if not digits or len(digits) > 2 or digits[0] == "0":
            return None
        parts.append(int(digits))
        dotted = line[at : at + 1] == "."
        if not dotted:
            break
        at += 1
        if line[at : at + 1] not in _ARABIC_DIGITS:
            break
    if line[at : at + 1] not in set(_SPACE) or (len(parts) == 1 and not dotted):
        return None
    return tuple(parts), at


def _cn_numbered(line: str) -> tuple[_Numbered, int] | None:
    """ "一、" or "（一）" opening a line, and where its title starts."""
    opened = line[:1] in _CN_OPEN
    at = start = 1 if opened else 0
    while at < len(line) and line[at] in _CN_NUMERALS and at - start < 3:
        at += 1
    numeral, mark = line[start:at], line[at : at + 1]
    if not numeral:
        return None
    if opened and mark in _CN_CLOSE:
        return _Numbered("cn-paren", (int(_cn_number(numeral)),)), at + 1
    if not opened and mark in {"、", "．"}:
        return _Numbered("cn", (int(_cn_number(numeral)),)), at + 1
    return None


def _numbered(line: str, previous: str, following: str) -> tuple[_Numbered, str] | None:
    """The numbering and label of a line shaped like a numbered heading."""
    arabic = _arabic_number(line)
    if arabic is not None:
        numbered, at = _Numbered("arabic", arabic[0]), arabic[1]
    elif (chinese := _cn_numbered(line)) is not None:
        numbered, at = chinese
    else:
        return None
    title = line[at:].strip(_SPACE)
    first = title[:1]
    if not (first.isupper() or "\u3400" <= first <= "\u9fff"):
        return None
    last_word = title.split()[-1]
    if (
        len(title) > _TITLE_CHARS
        or _SENTENCE_PUNCT & set(title)
        or {",", "|", "、"} & set(title)
        or title[-1] in _CLOSING_PUNCT
        or last_word.isdigit()
        or last_word.lower() in _CONTINUATIONS
        or _open_sentence(previous)
        or following.lstrip(_SPACE)[:1].islower()
    ):
        return None
    return numbered, _squash(line)


def _listed(numbered: list[tuple[int, int, _Numbered]]) -> set[int]:
    """Of (line order, marker index, numbering) triples, the markers of numbered lines
    that follow one another as siblings with no line between ("1. Apples", "2. Pears"):
    a list, not headings."""
    listed: set[int] = set()
    for (line_a, index_a, a), (line_b, index_b, b) in itertools.pairwise(numbered):
        if (
            line_b == line_a + 1
            and a.style == b.style
            and a.parts[:-1] == b.parts[:-1]
            and b.parts[-1] == a.parts[-1] + 1
        ):
            listed |= {index_a, index_b}
    return listed


def _markers(text: str, explicit: set[int], skip: Sequence[tuple[int, int]]) -> list[_Marker]:
    """Every line that opens a division, in order, before placing them in the hierarchy."""
    found: list[_Marker] = []
    numbered: list[tuple[int, int, _Numbered]] = []
    heading_lines = set(explicit)
    previous, previous_start = "", -1
    offset = 0
    ranges, current = sorted(skip), 0
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip(_SPACE)]
    following = {a: lines[b] for a, b in itertools.pairwise(filled)}
    order = {line: n for n, line in enumerate(filled)}
    for index, line in enumerate(lines):
        body = line.lstrip(_SPACE)
        start = offset + len(line) - len(body)
        while current < len(ranges) and ranges[current][1] <= offset:
            current += 1
        skipped = current < len(ranges) and ranges[current][0] <= offset
        if body and not skipped and not toc_entry(body):
            match = (
                _english(body, previous)
                or _chinese(body, previous, previous_start in heading_lines)
                or _clause(body, previous)
            )
            heading = None
            if match is None and offset not in explicit:
                heading = _numbered(body, previous, following.get(index, ""))
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
                        start, offset, _NUMBERED, label, numbering.style, number, None, numbering
                    )
                )
        previous, previous_start = line, offset
        offset += len(line) + 1
    listed = _listed(numbered)
    return [m for i, m in enumerate(found) if i not in listed]


def _article_levels(markers: list[_Marker]) -> dict[str, int]:
    """Sections inside articles (or articles inside sections): whichever comes first is outer."""
    words = [m.word for m in markers if m.level == _ARTICLE and m.word in {"section", "article"}]
    if "section" in words and "article" in words:
        return {words[0]: _OUTER_ARTICLE}
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
    # The open numbered headings, outermost first; the i-th is at level _NUMBERED + i.
    numbered: list[_Numbered] = []
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
            inner = _english(heading, "") or _chinese(heading, "", True)
            article = inner[3] if inner and inner[0] == _ARTICLE else None
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
            if len(numbered) == _NUMBERED_DEPTH:
                continue
            entries.append((_NUMBERED + len(numbered), m.label, (m.word, m.number)))
            numbered.append(m.numbering)
            article = m.number
        elif m.level == _CLAUSE:
            if article is None or (m.number and m.number != article):
                continue
            entries.append((_CLAUSE, m.label, ("clause", m.label)))
        else:
            level = outer.get(m.word, m.level)
            # A running page header repeats the open division; it opens nothing new.
            if open_.get(level) != (m.word, m.number):
                if level < _NUMBERED:
                    numbered.clear()
                entries.append((level, m.label, (m.word, m.number)))
                article = m.number if level in (_OUTER_ARTICLE, _ARTICLE) else None
            if m.clause:
                entries.append((_CLAUSE, m.clause, ("clause", m.clause)))
        for level, label, key in entries:
            for deeper in [lv for lv in open_ if lv >= level]:
                del open_[deeper]
            open_[level] = key
            merged.append((offset, _BELOW_HEADINGS + level, label))
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
