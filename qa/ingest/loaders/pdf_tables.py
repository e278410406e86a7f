"""The ruled tables of a PDF page (as pdfplumber finds them) in reading order with its
text, and whether a table at the top of a page runs on from the foot of the page before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Text within this share of the page height from its top or bottom edge is a running
# header or footer, which does not stop a table from continuing across the break.
_MARGIN_SHARE = 0.1
# Two tables whose left and right edges differ by less than this share of the page width
# are taken for one table's columns.
_ALIGN_SHARE = 0.02


@dataclass
class Table:
    rows: list[list[str]]
    box: tuple[float, float, float, float]
    """x0, top, x1, bottom, in points from the top left of the page."""
    continues_above: bool = False
    """Nothing but a running header above it: it may continue a table from the page before."""
    continues_below: bool = False
    """Nothing but a running footer below it: it may go on over the page."""


@dataclass
class Layout:
    blocks: list[str | Table]
    """Runs of text lines, and tables, top to bottom."""
    width: float


def _row(cells: list[str | None]) -> list[str]:
    return [" ".join((cell or "").split()) for cell in cells]


def layout(page: Any) -> Layout | None:
    """The page as text blocks and tables in reading order; None when it has no table.

    A "table" of one row or one column is a box drawn around text, which stays text.
    """
    tables: list[Table] = []
    for found in page.find_tables():
        rows = [r for r in (_row(cells) for cells in found.extract()) if any(r)]
        if len(rows) >= 2 and len(rows[0]) >= 2:
            tables.append(Table(rows, found.bbox))
    if not tables:
        return None

    def outside(obj: dict[str, Any]) -> bool:
        x = (obj["x0"] + obj["x1"]) / 2
        y = (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    boxes = [t.box for t in tables]
    lines = page.filter(outside).extract_text_lines(return_chars=False)
    first = min(tables, key=lambda t: t.box[1])
    last = max(tables, key=lambda t: t.box[1])
    head_zone, foot_zone = page.height * _MARGIN_SHARE, page.height * (1 - _MARGIN_SHARE)
    first.continues_above = all(
        line["bottom"] <= head_zone for line in lines if line["top"] < first.box[1]
    )
    last.continues_below = all(
        line["top"] >= foot_zone for line in lines if line["bottom"] > last.box[3]
    )
    items: list[tuple[float, str | Table]] = [(line["top"], line["text"]) for line in lines]
    items += [(t.box[1], t) for t in tables]
    blocks: list[str | Table] = []
    for _, item in sorted(items, key=lambda pair: pair[0]):
        if isinstance(item, str) and blocks and isinstance(blocks[-1], str):
            blocks[-1] += "\n" + item
        else:
            blocks.append(item)
    return Layout(blocks, page.width)


def continues(before: Table, after: Table, width: float) -> bool:
    """Whether `after`, at the top of a page, is the rest of `before` from the page before."""
    tolerance = width * _ALIGN_SHARE
    return (
        before.continues_below
        and after.continues_above
        and len(before.rows[0]) == len(after.rows[0])
        and abs(before.box[0] - after.box[0]) <= tolerance
        and abs(before.box[2] - after.box[2]) <= tolerance
    )
