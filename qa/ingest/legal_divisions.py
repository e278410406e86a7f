"""Legal division markers opening a line: "Part 3", "Section 12(2)", "§ 4", "第二章",
"第十二条第二款", and a clause "(2)" opening a provision.

A division is taken only from a line that starts with its marker and reads like a
heading or the start of a provision; a reference inside a sentence ("as provided in
Section 12", "依照本法第十二条的规定") is not one, including when a line wrap happens to
put it at the start of a line.
"""

from __future__ import annotations

import re

from qa.ingest.cn_numerals import CN_NUM, cn_number
from qa.ingest.line_shape import (
    CLOSING_PUNCT,
    SENTENCE_PUNCT,
    SPACE,
    TITLE_CHARS,
    open_sentence,
    squash,
)
from qa.ingest.section_levels import ARTICLE, CHAPTER, CLAUSE, DIVISION, PART

_EN_WORDS = {
    "part": PART,
    "chapter": CHAPTER,
    "division": DIVISION,
    "section": ARTICLE,
    "sec.": ARTICLE,
    "§": ARTICLE,
    "article": ARTICLE,
    "art.": ARTICLE,
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
_CN_MARKER = re.compile(rf"第(?P<num>{CN_NUM})(?P<kind>[编章节条款])(?:第(?P<clause>{CN_NUM})款)?")
_CN_KINDS = {"编": PART, "章": CHAPTER, "节": DIVISION, "条": ARTICLE, "款": CLAUSE}
# A character straight after "第十二条" that continues a reference, not a provision.
_CN_REFERENCE = set("的之所中至和或及与规以项内外下上、，,")
_CN_SEPARATORS = set("：:【〔［[（(．.")
_EN_SEPARATORS = set(".:—–-")
_TERMINAL = set(".;:!?。；：！？」』”）)")


def _title_label(marker: str, rest: str) -> str:
    """The whole line when the rest of it is a short title, else the marker alone."""
    body = rest.strip(SPACE + "".join(_EN_SEPARATORS))
    if len(body) > TITLE_CHARS or body[-1:] in CLOSING_PUNCT or SENTENCE_PUNCT & set(body):
        return squash(marker)
    return squash(marker + rest)


def english(line: str, previous: str) -> tuple[int, str, str, str, str | None] | None:
    """(level, label, word, number, clause opened on the line) of an English division
    marker opening `line`, unless `previous` leaves a sentence open that it ends."""
    m = _EN_MARKER.match(line)
    if m is None:
        return None
    rest = line[m.end() :]
    after = rest.lstrip(SPACE)
    clause = m.group("clause")
    if clause is None and (c := _EN_CLAUSE.match(after)) and not c.group("num"):
        clause = c.group("clause")
    starts_provision = rest[:1] in SPACE and (
        after[:1].isupper() or after[:1] in "(\"“'" or after[:1] in _EN_SEPARATORS
    )
    if after and not (rest[0] in _EN_SEPARATORS or starts_provision or after[0].isdigit()):
        return None
    if open_sentence(previous):
        return None
    word = (m.group("word") or m.group("symbol")).lower()
    word = {"sec.": "section", "§": "section", "art.": "article"}.get(word, word)
    marker = line[: m.end("num")]
    label = squash(marker) if clause else _title_label(marker, rest)
    return _EN_WORDS[word], label, word, m.group("num"), f"({clause})" if clause else None


def chinese(
    line: str, previous: str, after_heading: bool
) -> tuple[int, str, str, str, str | None] | None:
    """As `english`, for "第十二条"; with no separator after the marker, only where
    a provision may begin: after a sentence's end or a heading."""
    m = _CN_MARKER.match(line)
    if m is None:
        return None
    rest = line[m.end() :]
    if rest and rest[0] not in SPACE and rest[0] not in _CN_SEPARATORS:
        if rest[0] in _CN_REFERENCE or not "\u3400" <= rest[0] <= "\u9fff":
            return None
        # No separator after the marker: trust it only where a provision may begin.
        ended = not previous.strip(SPACE) or previous.rstrip(SPACE)[-1] in _TERMINAL
        if not (ended or after_heading):
            return None
    kind, clause = m.group("kind"), m.group("clause")
    if kind == "款":
        return CLAUSE, squash(line[: m.end()]), kind, "", None
    marker = line[: m.end("kind")]
    label = squash(marker) if clause else _title_label(marker, rest)
    number = cn_number(m.group("num"))
    return _CN_KINDS[kind], label, kind, number, f"第{clause}款" if clause else None


def clause(line: str, previous: str) -> tuple[int, str, str, str, str | None] | None:
    """A line opening a numbered clause: "(2) A landlord ..." or "12(2) A landlord ..."."""
    m = _EN_CLAUSE.match(line)
    if m is None or open_sentence(previous):
        return None
    if line[m.end() :].lstrip(SPACE)[:1].islower():
        return None
    return CLAUSE, f"({m.group('clause')})", "clause", m.group("num") or "", None
