"""Numbered headings ("1. Purpose", "2.3 Scope", "一、总则", "（二）适用范围") in plain text.

They are read from the shape of the whole line, since a number also starts list items,
amounts and dates: a short title starting with a capital (or a CJK character) with no
sentence punctuation; a single number only with its dot ("1 Scope" could be an
address); not ending in a number (a contents line, an amount); not continuing a
sentence nor continued by one; and not one of a run of numbered lines with nothing
between them (a list).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from qa.ingest.cn_numerals import cn_number
from qa.ingest.line_shape import (
    CLOSING_PUNCT,
    CONTINUATIONS,
    SENTENCE_PUNCT,
    SPACE,
    TITLE_CHARS,
    open_sentence,
    squash,
)
from qa.ingest.section_levels import NUMBERED_DEPTH

_ARABIC_DIGITS = set("0123456789")
_CN_NUMERALS = set("一二三四五六七八九十")
_CN_OPEN, _CN_CLOSE = set("(（"), set(")）")


@dataclass(frozen=True)
class Numbered:
    """A numbered heading's numbering: its style ("arabic"; "cn" for 一、; "cn-paren" for
    （一）) and its numbers, (2, 3) for "2.3"."""

    style: str
    parts: tuple[int, ...]

    def contains(self, other: Numbered, rank: dict[str, int]) -> bool:
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
    while len(parts) < NUMBERED_DEPTH:
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
    if line[at : at + 1] not in set(SPACE) or (len(parts) == 1 and not dotted):
        return None
    return tuple(parts), at


def _cn_numbered(line: str) -> tuple[Numbered, int] | None:
    """ "一、" or "（一）" opening a line, and where its title starts."""
    opened = line[:1] in _CN_OPEN
    at = start = 1 if opened else 0
    while at < len(line) and line[at] in _CN_NUMERALS and at - start < 3:
        at += 1
    numeral, mark = line[start:at], line[at : at + 1]
    if not numeral:
        return None
    if opened and mark in _CN_CLOSE:
        return Numbered("cn-paren", (int(cn_number(numeral)),)), at + 1
    if not opened and mark in {"、", "．"}:
        return Numbered("cn", (int(cn_number(numeral)),)), at + 1
    return None


def heading(line: str, previous: str, following: str) -> tuple[Numbered, str] | None:
    """The numbering and label of a line shaped like a numbered heading."""
    arabic = _arabic_number(line)
    if arabic is not None:
        numbered, at = Numbered("arabic", arabic[0]), arabic[1]
    elif (chinese := _cn_numbered(line)) is not None:
        numbered, at = chinese
    else:
        return None
    title = line[at:].strip(SPACE)
    first = title[:1]
    if not (first.isupper() or "\u3400" <= first <= "\u9fff"):
        return None
    last_word = title.split()[-1]
    if (
        len(title) > TITLE_CHARS
        or SENTENCE_PUNCT & set(title)
        or {",", "|", "、"} & set(title)
        or title[-1] in CLOSING_PUNCT
        or last_word.isdigit()
        or last_word.lower() in CONTINUATIONS
        or open_sentence(previous)
        or following.lstrip(SPACE)[:1].islower()
    ):
        return None
    return numbered, squash(line)


def list_items(numbered: list[tuple[int, int, Numbered]]) -> set[int]:
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
