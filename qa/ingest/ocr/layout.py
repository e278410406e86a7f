"""OCR'd lines as page text in reading order, with the boxes a citation can point at.

An engine returns lines in no reliable order. A page is read in bands from top to
bottom: a line spanning most of the page width (a title, a full-width paragraph) is a
band of its own; the lines between such lines are split at vertical gutters, and when
every part holds lines of running text (several lines, each a good share of the page
wide) the parts are columns, read one after the other. Otherwise (a table, a form,
one column of text) lines at the same height are a row, read left to right, cells
set apart by " | " as the PDF loader writes table rows.

Running headers and footers (a line in the top or bottom margin that recurs, digits
aside, on at least half the pages of a file) are dropped, so "Page 3 of 12" and the
court's name above every page do not cut passages apart.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.ingest.ocr.engine import TextLine
from qa.ingest.ocr.options import OcrOptions
from qa.records import Span

# A line wider than this share of the page is a band of its own, never in a column.
_WIDE_SHARE = 0.55
# A vertical gap in a band at least this share of the page wide may be a gutter...
_GUTTER_SHARE = 0.02
# ...between columns whose lines are, on the median, at least this share of the page wide
# (a table's cells are narrower; a column of Chinese text 13 characters wide is 0.24)
# and of at least this many lines.
_COLUMN_LINE_SHARE = 0.2
_COLUMN_LINES = 2
# Two boxes on one row further apart than this many line heights are separate cells.
_CELL_GAP_HEIGHTS = 1.5
# The top and bottom margins where running headers and footers are looked for.
_MARGIN_SHARE = 0.08

Box = tuple[float, float, float, float, int, int]
"""x0, y0, x1, y1 as shares of the page's width and height, then the text's start and end
offsets."""


@dataclass
class OcrPage:
    label: str
    """The page number, as the Document's page spans name it."""
    width: int
    height: int
    lines: list[TextLine] = field(default_factory=list)
    preview: bytes | None = None
    """The page's picture to show (qa.ingest.ocr.preview), when one is kept."""


@dataclass
class PageText:
    label: str
    text: str
    boxes: list[Box] | None = None
    """Offsets within `text`; None for a page read from a text layer."""
    preview: bytes | None = None


def _rows(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Lines whose middles lie within half a line height of each other, left to right."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda item: item.middle):
        if rows:
            first = rows[-1][0]
            if abs(line.middle - first.middle) <= min(line.height, first.height) / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda item: item.box[0]) for row in rows]


def _gutter_groups(lines: Sequence[TextLine], width: int) -> list[list[TextLine]]:
    """The band's lines split at every vertical gap no line crosses."""
    ordered = sorted(lines, key=lambda item: item.box[0])
    groups: list[list[TextLine]] = [[ordered[0]]]
    right = ordered[0].box[2]
    for line in ordered[1:]:
        if line.box[0] - right >= width * _GUTTER_SHARE:
            groups.append([line])
        else:
            groups[-1].append(line)
        right = max(right, line.box[2])
    return groups


def _is_column(group: Sequence[TextLine], width: int) -> bool:
    widths = sorted(line.width for line in group)
    return len(group) >= _COLUMN_LINES and widths[len(widths) // 2] >= width * _COLUMN_LINE_SHARE


def reading_order(page: OcrPage) -> list[list[TextLine]]:
    """The page's lines as rows in reading order (a row: lines side by side)."""
    bands: list[list[TextLine]] = []
    wide = page.width * _WIDE_SHARE
    for line in sorted(page.lines, key=lambda item: item.box[1]):
        if line.width >= wide or not bands or bands[-1][0].width >= wide:
            bands.append([line])
        else:
            bands[-1].append(line)
    rows: list[list[TextLine]] = []
    for band in bands:
        groups = _gutter_groups(band, page.width)
        if len(groups) > 1 and all(_is_column(group, page.width) for group in groups):
            for group in groups:
                rows.extend(_rows(group))
        else:
            rows.extend(_rows(band))
    return rows


def _running_key(line: TextLine, page: OcrPage) -> str | None:
    """What a running header or footer line has in common from page to page."""
    margin = page.height * _MARGIN_SHARE
    if margin < line.middle < page.height - margin:
        return None
    return re.sub(r"\d+", "#", "".join(line.text.lower().split()))


def drop_running(pages: Sequence[OcrPage]) -> None:
    """Remove lines in the margins that recur on at least half the pages (and two)."""
    if len(pages) < 2:
        return
    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({key for line in page.lines if (key := _running_key(line, page))})
    running = {key for key, count in seen.items() if count >= max(2, math.ceil(len(pages) / 2))}
    for page in pages:
        page.lines = [line for line in page.lines if _running_key(line, page) not in running]


def page_text(page: OcrPage) -> PageText:
    """The page's text in reading order, a line of text per row, and each line's box."""
    parts: list[str] = []
    boxes: list[Box] = []
    offset = 0
    for row in reading_order(page):
        if parts:
            parts.append("\n")
            offset += 1
        for index, line in enumerate(row):
            if index:
                before = row[index - 1]
                gap = line.box[0] - before.box[2]
                joint = " | " if gap > _CELL_GAP_HEIGHTS * max(line.height, before.height) else " "
                parts.append(joint)
                offset += len(joint)
            x0, y0, x1, y1 = line.box
            boxes.append(
                (
                    round(x0 / page.width, 4),
                    round(y0 / page.height, 4),
                    round(x1 / page.width, 4),
                    round(y1 / page.height, 4),
                    offset,
                    offset + len(line.text),
                )
            )
            parts.append(line.text)
            offset += len(line.text)
    return PageText(page.label, "".join(parts), boxes, page.preview)


@dataclass
class PagedText:
    text: str
    pages: list[Span]
    boxes: dict[str, list[list[float | int]]]
    """Per OCR'd page label, its lines' boxes with offsets into `text`."""
    previews: dict[str, bytes] = field(default_factory=dict)
    """Per OCR'd page label, the page's picture, when one is kept."""


def assemble(pages: Sequence[PageText]) -> PagedText:
    """One document's text from its pages' (blank pages left out), a blank line between."""
    parts: list[str] = []
    spans: list[Span] = []
    boxes: dict[str, list[list[float | int]]] = {}
    previews: dict[str, bytes] = {}
    offset = 0
    for page in pages:
        if not page.text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(page.text)
        spans.append(Span(offset, offset + len(page.text), page.label))
        if page.boxes is not None:
            boxes[page.label] = [
                [x0, y0, x1, y1, start + offset, end + offset]
                for x0, y0, x1, y1, start, end in page.boxes
            ]
        if page.preview is not None:
            previews[page.label] = page.preview
        offset += len(page.text)
    return PagedText("".join(parts), spans, boxes, previews)


def ocr_metadata(options: OcrOptions, paged: PagedText) -> dict[str, Any]:
    """What a document's metadata says of its OCR: the engine, each line's box, and the
    pages whose picture is kept (the web page asks for those only)."""
    return {"engine": options.engine, "boxes": paged.boxes, "page_images": sorted(paged.previews)}
