"""Where on its page an OCR'd passage was read: the line boxes its loader kept in the
document's metadata (`ocr.boxes`: page label -> [x0, y0, x1, y1, start, end], coordinates
in fractions of the page, offsets in the document's text), cut to a span of the text."""

from __future__ import annotations

from typing import Any

Boxes = dict[str, list[list[float | int]]]


def is_box(box: object) -> bool:
    return (
        isinstance(box, list)
        and len(box) == 6
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
    )


def line_boxes(metadata: dict[str, Any]) -> Boxes | None:
    """The document's line boxes, or None where its metadata holds none (or something
    else under that name: metadata given with JSONL records is the user's own)."""
    ocr = metadata.get("ocr")
    boxes = ocr.get("boxes") if isinstance(ocr, dict) else None
    if not isinstance(boxes, dict) or not all(
        isinstance(lines, list) and all(is_box(box) for box in lines[:1] + lines[-1:])
        for lines in boxes.values()
    ):
        return None
    return boxes


def within(boxes: Boxes, start: int, end: int) -> Boxes | None:
    """Per page, the lines that share at least one character with [start, end); None if
    one of them is not a box. A page's lines come in text order, so a page whose first
    and last lines lie outside is passed over unread: a hit on a 300-page scan reads its
    own page's 40 lines, not 12,000."""
    kept: Boxes = {}
    for page, lines in boxes.items():
        if not lines or lines[0][4] >= end or lines[-1][5] <= start:
            continue
        if not all(is_box(box) for box in lines):
            return None
        if own := [box for box in lines if box[4] < end and box[5] > start]:
            kept[page] = own
    return kept


def cut_to(metadata: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    """The document's metadata as the passage [start, end) shows it: its line boxes cut to
    the passage's own lines (a 300-page scan holds about 1 MB of them), the rest as is."""
    boxes = line_boxes(metadata)
    own = None if boxes is None else within(boxes, start, end)
    if own is None:
        return metadata
    return {**metadata, "ocr": {**metadata["ocr"], "boxes": own}}


def pictured_pages(metadata: dict[str, Any]) -> set[str]:
    """The pages whose picture the catalogue keeps (qa.catalogue.page_images)."""
    ocr = metadata.get("ocr")
    pages = ocr.get("page_images") if isinstance(ocr, dict) else None
    return {p for p in pages if isinstance(p, str)} if isinstance(pages, list) else set()


def regions(
    metadata: dict[str, Any], passage: tuple[int, int], quote: tuple[int, int]
) -> list[dict[str, Any]]:
    """A citation's regions: each line of its passage with its page, its box, whether the
    quote is on it, and whether the page's picture is kept to show it on."""
    boxes = line_boxes(metadata)
    own = None if boxes is None else within(boxes, *passage)
    if own is None:
        return []
    pictured = pictured_pages(metadata)
    return [
        {
            "page": page,
            "box": [float(v) for v in box[:4]],
            "quote": box[4] < quote[1] and box[5] > quote[0],
            "image": page in pictured,
        }
        for page, lines in own.items()
        for box in lines
    ]
