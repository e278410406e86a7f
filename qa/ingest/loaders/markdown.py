"""Markdown kept as written (quotes must match the stored text), headings as sections,
with legal divisions in the body (clauses, unmarked articles) nested under them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from qa.ingest.loaders.text import decode_text, first_line_title, require_text
from qa.ingest.structure import sections
from qa.records import Document

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def load(path: Path, document_id: str) -> Iterator[Document]:
    text = require_text(decode_text(path.read_bytes(), document_id), document_id)
    fences = [(m.start(), m.end()) for m in _FENCE.finditer(text)]
    headings = [
        (m.start(), len(m.group(1)), m.group(2).strip())
        for m in _HEADING.finditer(text)
        if not any(start <= m.start() < end for start, end in fences)
    ]
    title = next((h for _, level, h in headings if level == 1), None)
    yield Document(
        id=document_id,
        text=text,
        title=title or first_line_title(text, path.stem),
        sections=sections(text, headings, fences),
        source=str(path),
    )
