"""Markdown kept as written (quotes must match the stored text), headings as sections,
with legal divisions in the body (clauses, unmarked articles) nested under them.

Headings and code fences are found by walking the lines once, not by regular
expressions over the whole text: a fence pattern searched from every line start scans
to the end of the text for each unclosed fence (quadratic), and a heading pattern with
a lazy title backtracks over every run of blanks in the line.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path

from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import decode_text, first_line_title, require_text
from qa.ingest.structure import sections
from qa.records import Document

_FENCE_MARKERS = ("```", "~~~")
_MAX_LEVEL = 6
_BLANKS = " \t"


def _line_starts(lines: list[str]) -> list[int]:
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    return starts


def code_blocks(text: str) -> list[tuple[int, int]]:
    """Fenced code blocks as (start, end) offsets, in order.

    A block opens at a line starting with ``` or ~~~ and closes at the next line that
    holds only the same marker (and blanks); an opening line never closed opens nothing.
    """
    lines = text.split("\n")
    starts = _line_starts(lines)
    closers = {
        marker: [
            i
            for i, line in enumerate(lines)
            if line.startswith(marker) and not line[len(marker) :].strip(_BLANKS)
        ]
        for marker in _FENCE_MARKERS
    }
    blocks: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        marker = lines[i][:3]
        if marker in closers:
            candidates = closers[marker]
            k = bisect.bisect_right(candidates, i)
            if k < len(candidates):
                j = candidates[k]
                blocks.append((starts[i], starts[j] + len(lines[j])))
                i = j + 1
                continue
        i += 1
    return blocks


def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading line ("## Title ##"), or None."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= _MAX_LEVEL:
        return None
    rest = line[level:]
    title = rest.lstrip(_BLANKS)
    gap = len(rest) - len(title)
    if not gap:
        return None
    if not title:
        # "#  " is a heading with an empty title, "# " is not one.
        return (level, "") if gap > 1 else None
    title = title.rstrip(_BLANKS)
    unclosed = title.rstrip("#")
    if unclosed != title and unclosed[-1:] in (" ", "\t") and unclosed.rstrip(_BLANKS):
        title = unclosed.rstrip(_BLANKS)
    return level, title.strip()


def headings(text: str, blocks: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """(offset, level, title) of each heading line outside the code blocks."""
    found: list[tuple[int, int, str]] = []
    offset, current = 0, 0
    for line in text.split("\n"):
        while current < len(blocks) and blocks[current][1] <= offset:
            current += 1
        inside = current < len(blocks) and blocks[current][0] <= offset
        if not inside and (heading := _heading(line)) is not None:
            found.append((offset, *heading))
        offset += len(line) + 1
    return found


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    text = require_text(decode_text(path.read_bytes(), document_id), document_id)
    blocks = code_blocks(text)
    found = headings(text, blocks)
    title = next((h for _, level, h in found if level == 1), None)
    yield Document(
        id=document_id,
        text=text,
        title=title or first_line_title(text, path.stem),
        sections=sections(text, found, blocks),
        source=str(path),
    )
