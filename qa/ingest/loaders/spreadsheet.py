"""XLSX and CSV: one line a row, each value with its column's header ("Drug: Ibuprofen;
Dose: 200 mg"), so a chunk holding a row says what each value is and a question about
one row finds it; an XLSX sheet is a section named for the sheet.

openpyxl reads the sheets in read-only mode, one row at a time, after the zip is
checked like any other; rows and cells are counted as they are read, and a file past
QA_MAX_SHEET_CELLS is refused. An empty row counts as one cell: a sheet naming row
1,000,000 after row 1 makes openpyxl yield every row between.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter

from qa.errors import LoaderError
from qa.ingest.loaders.archive import check_zip
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import decode_text, require_text
from qa.ingest.structure import heading_sections
from qa.records import Document

_SNIFF_CHARS = 65_536
_SNIFF_LINES = 50
_DELIMITERS = ",;\t|"


class _Budget:
    """Cells left to read in the whole file."""

    def __init__(self, limits: LoaderLimits, document_id: str) -> None:
        self.left = limits.sheet_cells
        self.limit = limits.sheet_cells
        self.document_id = document_id

    def spend(self, cells: int) -> None:
        self.left -= max(cells, 1)
        if self.left < 0:
            raise LoaderError(
                f"{self.document_id}: more than {self.limit} cells (the limit, QA_MAX_SHEET_CELLS)"
            )


def _value(value: object) -> str:
    """A cell as a reader would write it: 3 not 3.0, a date without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return " ".join(str(value).split())


def _numeric(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True


def _is_header(row: Sequence[object]) -> bool:
    """A first row of labels: some text, and no number or date among its cells."""
    cells = [c for c in row if c is not None and _value(c)]
    return bool(cells) and all(isinstance(c, str) and not _numeric(_value(c)) for c in cells)


def _table_lines(rows: Iterable[Sequence[object]], budget: _Budget) -> list[str]:
    """The header as a "a | b" line, then one "header: value; ..." line a row.

    Without a header row the columns are named by letter (A, B, ...), as the sheet shows them.
    """
    lines: list[str] = []
    header: list[str] | None = None
    for row in rows:
        budget.spend(len(row))
        values = [_value(c) for c in row]
        if not any(values):
            continue
        if header is None:
            if _is_header(row):
                header = values
                lines.append(" | ".join(v for v in values if v))
                continue
            header = []
        named = [
            (header[i] if i < len(header) and header[i] else get_column_letter(i + 1), v)
            for i, v in enumerate(values)
            if v
        ]
        if len(named) == 1:
            lines.append(named[0][1])
        else:
            lines.append("; ".join(f"{name}: {value}" for name, value in named))
    return lines


def load_xlsx(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    check_zip(path, document_id, limits, "XLSX")
    budget = _Budget(limits, document_id)
    book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    try:
        lines: list[str] = []
        headings: list[tuple[int, int, str]] = []
        offset = 0
        for sheet in book.worksheets:
            # The declared size may be a lie (A1:XFD1048576): rows are read as they are.
            sheet.reset_dimensions()
            sheet_lines = _table_lines(sheet.iter_rows(values_only=True), budget)
            if not sheet_lines:
                continue
            headings.append((offset, 1, sheet.title))
            for line in sheet_lines:
                lines.append(line)
                offset += len(line) + 1
        title = (book.properties.title or "").strip()
    finally:
        book.close()
    text = require_text("\n".join(lines), document_id)
    yield Document(
        id=document_id,
        text=text,
        title=title or path.stem,
        sections=[s for s in heading_sections(headings, len(text)) if s.end > s.start],
        source=str(path),
    )


def _delimiter(text: str) -> str:
    """The candidate that splits the first lines into the same number of fields most
    often. csv.Sniffer is not used: its quote pattern backtracks (18 s on a 64 kB
    sample of ',"' repeated)."""
    lines = [line for line in text[:_SNIFF_CHARS].split("\n")[:_SNIFF_LINES] if line.strip()]
    if not lines:
        return ","
    best, best_score = ",", 0
    for delimiter in _DELIMITERS:
        first = lines[0].count(delimiter)
        score = sum(1 for line in lines if line.count(delimiter) == first) if first else 0
        if score > best_score:
            best, best_score = delimiter, score
    return best


def load_csv(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    """UTF-8 (with or without BOM), else GB18030 (which reads GBK); the delimiter is sniffed."""
    text = decode_text(path.read_bytes(), document_id)
    rows = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    lines = _table_lines(rows, _Budget(limits, document_id))
    yield Document(
        id=document_id,
        text=require_text("\n".join(lines), document_id),
        title=path.stem,
        source=str(path),
    )
