"""ODT (OpenDocument text): paragraphs, lists and tables ("cell | cell" a row) in
document order; headings become sections at their outline level, with legal
divisions in plain paragraphs nested under them.

odfpy builds the whole document tree in memory, so the zip is checked first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from odf import dc, teletype
from odf.element import Element
from odf.namespaces import TABLENS, TEXTNS
from odf.opendocument import load as load_odf

from qa.ingest.loaders.archive import check_zip
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import require_text
from qa.ingest.structure import sections
from qa.records import Document


def _squash(text: str) -> str:
    return " ".join(text.split())


class _Reader:
    """Walks the body, writing one line per paragraph or table row."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.headings: list[tuple[int, int, str]] = []
        self.offset = 0

    def add(self, line: str) -> None:
        if line:
            self.lines.append(line)
            self.offset += len(line) + 1

    def walk(self, node: Element) -> None:
        for child in node.childNodes:
            if child.nodeType != child.ELEMENT_NODE:
                continue
            namespace, name = child.qname
            if namespace == TEXTNS and name == "h":
                line = _squash(teletype.extractText(child))
                level = str(child.getAttribute("outlinelevel") or "1")
                if line:
                    self.headings.append((self.offset, int(level) if level.isdigit() else 1, line))
                self.add(line)
            elif namespace == TEXTNS and name == "p":
                self.add(_squash(teletype.extractText(child)))
            elif namespace == TABLENS and name == "table-row":
                cells = [
                    _squash(teletype.extractText(cell))
                    for cell in child.childNodes
                    if cell.nodeType == cell.ELEMENT_NODE and cell.qname == (TABLENS, "table-cell")
                ]
                if any(cells):
                    self.add(" | ".join(cells))
            else:
                self.walk(child)


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    check_zip(path, document_id, limits, "ODT")
    document = load_odf(str(path))
    reader = _Reader()
    reader.walk(document.text)
    text = require_text("\n".join(reader.lines), document_id)
    meta_titles = document.meta.getElementsByType(dc.Title)
    title = _squash(teletype.extractText(meta_titles[0])) if meta_titles else ""
    if not title:
        title = next((h for _, _, h in reader.headings), path.stem)
    yield Document(
        id=document_id,
        text=text,
        title=title,
        sections=sections(text, reader.headings),
        source=str(path),
    )
