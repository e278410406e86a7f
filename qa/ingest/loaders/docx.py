"""DOCX: paragraphs and tables (one "cell | cell" line a row) in document order; headings
become sections, with legal divisions in plain paragraphs nested under them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from qa.ingest.loaders.text import require_text
from qa.ingest.structure import sections
from qa.records import Document


def _heading_level(paragraph: Paragraph) -> int | None:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style == "Title":
        return 1
    if style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        return int(level) if level.isdigit() else None
    return None


def load(path: Path, document_id: str) -> Iterator[Document]:
    document = docx.Document(str(path))
    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    offset = 0
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            block_lines = []
            for row in block.rows:
                # A horizontally merged cell is listed once per grid column it spans.
                listed = row.cells
                unique = [c for i, c in enumerate(listed) if i == 0 or c != listed[i - 1]]
                cells = [" ".join(cell.text.split()) for cell in unique]
                if any(cells):
                    block_lines.append(" | ".join(cells))
        else:
            line = " ".join(block.text.split())
            level = _heading_level(block)
            if line and level is not None:
                headings.append((offset, level, line))
            block_lines = [line] if line else []
        for line in block_lines:
            lines.append(line)
            offset += len(line) + 1
    text = require_text("\n".join(lines), document_id)
    title = (document.core_properties.title or "").strip()
    if not title:
        title = next((h for _, _, h in headings), path.stem)
    yield Document(
        id=document_id,
        text=text,
        title=title,
        sections=sections(text, headings),
        source=str(path),
    )
