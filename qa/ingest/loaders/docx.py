"""DOCX: paragraphs and tables (one "cell | cell" line a row) in document order; headings
become sections, with legal divisions in plain paragraphs nested under them.

A DOCX is a zip, and python-docx inflates every part in memory: a decompression bomb
is refused from the zip's directory before python-docx opens it (archive.py).
Paragraph styles and vertically merged cells are resolved here from one table each:
python-docx looks up each paragraph's style by scanning every style, and each merged
cell by walking up the rows, so a file of many empty paragraphs or one tall merged
cell took minutes to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml.table import CT_Tc
from docx.table import Table, _Cell

from qa.errors import LoaderError
from qa.ingest.loaders.archive import check_zip
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import require_text
from qa.ingest.structure import sections
from qa.records import Document


def _style_names(document: DocxDocument) -> tuple[dict[str, str], str]:
    """Paragraph style names by style id, and the default paragraph style's name.

    As python-docx resolves them: the first style with the id, when it is a paragraph
    style; otherwise (or with no id) the default one.
    """
    first: dict[str, WD_STYLE_TYPE | None] = {}
    names: dict[str, str] = {}
    for style in document.styles:
        if style.style_id and style.style_id not in first:
            try:
                # The type as written: python-docx's lookup takes a style without one
                # for no paragraph style, though `style.type` says it is one.
                first[style.style_id] = style.element.type
            except ValueError:  # a type Word does not define
                first[style.style_id] = None
            names[style.style_id] = style.name or ""
    paragraph_names = {
        sid: names[sid] for sid, kind in first.items() if kind == WD_STYLE_TYPE.PARAGRAPH
    }
    default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    return paragraph_names, (default.name or "") if default is not None else ""


def _heading_level(style: str) -> int | None:
    if style == "Title":
        return 1
    if style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        return int(level) if level.isdigit() else None
    return None


def _table_lines(table: Table, document_id: str) -> list[str]:
    """One "cell | cell" line a row, cells as python-docx's `row.cells` lists them but
    each once: a cell spanning columns counts once, one merged down from the row above
    repeats that cell's text.

    Each row keeps the cell standing at each grid offset (merges resolved), so the row
    below finds the cell it continues in one step.
    """
    lines: list[str] = []
    above: dict[int, CT_Tc] = {}
    for tr in table._tbl.tr_lst:
        here: dict[int, CT_Tc] = {}
        roots: list[CT_Tc] = []
        offset, highest = tr.grid_before, None
        for tc in tr.tc_lst:
            if tc.vMerge == "continue":
                if offset not in above:
                    raise LoaderError(f"{document_id}: a merged table cell continues no cell")
                root = above[offset]
            else:
                root = tc
            # Like python-docx, a cell is found at an offset only past every earlier one.
            if highest is None or offset > highest:
                here[offset], highest = root, offset
            if root.grid_span > 0:
                roots.append(root)
            offset += tc.grid_span
        above = here
        cells = [" ".join(_Cell(tc, table).text.split()) for tc in roots]
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    check_zip(path, document_id, limits, "DOCX")
    document = docx.Document(str(path))
    styles, default_style = _style_names(document)
    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    offset = 0
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            block_lines = _table_lines(block, document_id)
        else:
            line = " ".join(block.text.split())
            style_id = block._p.style
            style = styles.get(style_id, default_style) if style_id else default_style
            level = _heading_level(style)
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
