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


def _line_starts_with(text: str, prefix: str) -> list[int]:
    """Offsets of the lines that start with prefix, found by str.find: a Python loop
    over every line costs a tenth of a second on 100,000 empty lines."""
    found = [0] if text.startswith(prefix) else []
    needle = "\n" + prefix
    at = text.find(needle)
    while at != -1:
        found.append(at + 1)
        at = text.find(needle, at + 1)
    return found


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end == -1 else end


def code_blocks(text: str) -> list[tuple[int, int]]:
    """Fenced code blocks as (start, end) offsets, in order.

    A block opens at a line starting with ``` or ~~~ and closes at the next line that
    holds only the same marker (and blanks); an opening line never closed opens nothing.
    """
    openers = sorted(o for marker in _FENCE_MARKERS for o in _line_starts_with(text, marker))
    closers: dict[str, list[int]] = {marker: [] for marker in _FENCE_MARKERS}
    for start in openers:
        if not text[start + 3 : _line_end(text, start)].strip(_BLANKS):
            closers[text[start : start + 3]].append(start)
    blocks: list[tuple[int, int]] = []
    resume = 0
    for start in openers:
        if start < resume:
            continue
        candidates = closers[text[start : start + 3]]
        k = bisect.bisect_right(candidates, start)
        if k < len(candidates):
            end = _line_end(text, candidates[k])
            blocks.append((start, end))
            resume = end + 1
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
    block_starts = [start for start, _ in blocks]
    found: list[tuple[int, int, str]] = []
    # A heading's hashes are followed by a blank: one C-speed search per level and blank
    # leaves the Python loop only the lines that can be headings.
    starts = sorted(
        offset
        for level in range(1, _MAX_LEVEL + 1)
        for blank in _BLANKS
        for offset in _line_starts_with(text, "#" * level + blank)
    )
    for offset in starts:
        k = bisect.bisect_right(block_starts, offset) - 1
        if k >= 0 and offset < blocks[k][1]:
            continue
        if (heading := _heading(text[offset : _line_end(text, offset)])) is not None:
            found.append((offset, *heading))
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
