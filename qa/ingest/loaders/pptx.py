"""PPTX: one page a slide (citations name the slide number), the slide's title as its
section; text boxes top to bottom, tables one "cell | cell" line a row, then the
speaker notes, which often hold what the presenter said about the slide."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pptx
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.shapes.autoshape import Shape
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide

from qa.ingest.loaders.archive import check_zip
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import require_text
from qa.ingest.structure import sections
from qa.records import Document, Span


def _squash(text: str) -> str:
    return " ".join(text.split())


def _shape_lines(shapes: Iterable[BaseShape], skip: int | None) -> list[str]:
    """Lines of the shapes in reading order (top to bottom, then left to right); the
    shape with id `skip` (the title, already written) is left out."""
    lines: list[str] = []
    ordered = sorted(shapes, key=lambda s: (s.top or 0, s.left or 0))
    for shape in ordered:
        if shape.shape_id == skip:
            continue
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP and isinstance(shape, GroupShape):
            lines += _shape_lines(shape.shapes, skip)
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            for row in shape.table.rows:
                cells = [_squash(cell.text) for cell in row.cells]
                if any(cells):
                    lines.append(" | ".join(cells))
        elif isinstance(shape, Shape) and shape.has_text_frame:
            lines += [line for p in shape.text_frame.paragraphs if (line := _squash(p.text))]
    return lines


def _slide_lines(slide: Slide) -> tuple[str, list[str]]:
    """(title, lines) of one slide, the title first among the lines when it has one."""
    title_shape = slide.shapes.title
    title = _squash(title_shape.text_frame.text) if title_shape is not None else ""
    lines = [title] if title else []
    lines += _shape_lines(slide.shapes, title_shape.shape_id if title_shape is not None else None)
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = slide.notes_slide.notes_text_frame.paragraphs
        note_lines = [line for p in notes if (line := _squash(p.text))]
        if note_lines:
            lines += [f"Notes: {note_lines[0]}", *note_lines[1:]]
    return title, lines


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    check_zip(path, document_id, limits, "PPTX")
    deck = pptx.Presentation(str(path))
    parts: list[str] = []
    pages: list[Span] = []
    headings: list[tuple[int, int, str]] = []
    offset = 0
    for number, slide in enumerate(deck.slides, start=1):
        title, lines = _slide_lines(slide)
        if not lines:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        body = "\n".join(lines)
        headings.append((offset, 1, title or f"Slide {number}"))
        pages.append(Span(offset, offset + len(body), str(number)))
        parts.append(body)
        offset += len(body)
    text = require_text("".join(parts), document_id)
    deck_title = (deck.core_properties.title or "").strip()
    first_title = next((h for _, _, h in headings if not h.startswith("Slide ")), "")
    yield Document(
        id=document_id,
        text=text,
        title=deck_title or first_title or path.stem,
        pages=pages,
        sections=sections(text, headings),
        source=str(path),
    )
