"""Parser fuzzing (a short, reproducible run; scripts/fuzz_loaders.py runs it longer),
and one test per pathological document that used to freeze, exhaust or crash a loader.

Every loader must return Documents or refuse the file with a LoaderError, within a time
cap, whatever the bytes; the structure detector and the chunker must take any text.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import docx
import pytest
from docx.oxml import parse_xml
from docx.table import Table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.errors import LoaderError
from qa.ingest import loaders
from qa.ingest.loaders.docx import _table_lines
from qa.ingest.loaders.limits import LoaderLimits
from tests.ingest.hostile import (
    _W,
    FORMATS,
    LIMITS,
    MAX_BYTES,
    STRATEGIES,
    _bodies,
    _bomb,
    _tc,
    _with_body,
    check_loader,
    check_text,
    raw_pdf,
    texts,
    time_cap,
)
from tests.ingest.hostile_formats import NEW_FORMATS

CAP_S = 10.0
"""Per example: far above what a linear parse of these inputs takes, far below a hang."""

_FUZZ = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=CAP_S + 2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_loader_returns_documents_or_refuses_the_file(fmt: str) -> None:
    @_FUZZ
    @given(STRATEGIES[fmt]())
    def loads_or_refuses(data: bytes) -> None:
        check_loader(fmt, data, CAP_S)

    loads_or_refuses()


@pytest.mark.parametrize("fmt", list(NEW_FORMATS))
def test_an_office_ebook_or_mail_loader_returns_documents_or_refuses_the_file(fmt: str) -> None:
    @settings(_FUZZ, max_examples=15)
    @given(NEW_FORMATS[fmt]())
    def loads_or_refuses(data: bytes) -> None:
        check_loader(fmt, data, CAP_S)

    loads_or_refuses()


@_FUZZ
@given(texts())
def test_structure_and_chunking_take_any_text(text: str) -> None:
    check_text(text, CAP_S)


def _load(path: Path, limits: LoaderLimits = LIMITS, cap_s: float = 5.0) -> list[str]:
    """The texts of the file's documents, within the cap."""
    with time_cap(cap_s):
        return [d.text for d in loaders.load(path, path.name, max_bytes=MAX_BYTES, limits=limits)]


def _refusal(path: Path, limits: LoaderLimits = LIMITS) -> str:
    start = time.perf_counter()
    with pytest.raises(LoaderError) as caught:
        _load(path, limits)
    assert time.perf_counter() - start < 1.0
    return caught.value.detail


def test_a_docx_bomb_is_refused_from_the_zip_directory(tmp_path: Path) -> None:
    # 3 MB of XML in a 40 kB file (the rest is the template): python-docx would have
    # inflated and parsed all of it.
    path = tmp_path / "bomb.docx"
    path.write_bytes(_bomb(3))
    assert path.stat().st_size < 50_000
    detail = _refusal(path)
    assert detail.startswith("bomb.docx: DOCX part 'word/document.xml' inflates ")
    assert "QA_MAX_ZIP_RATIO" in detail


def test_a_docx_unpacking_past_the_total_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "large.docx"
    path.write_bytes(_with_body("<w:p><w:r><w:t>text</w:t></w:r></w:p>" * 5_000))
    unpacked = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
    limits = LoaderLimits(unpacked - 1, 1000.0, 10, 14_400.0, 256)
    assert _refusal(path, limits) == (
        f"large.docx: DOCX unpacks to {unpacked} bytes, over the limit of {unpacked - 1} "
        "(QA_MAX_UNZIPPED_BYTES)"
    )
    assert _load(path, LoaderLimits(unpacked, 1000.0, 10, 14_400.0, 256))[0].startswith("text")


def test_docx_paragraph_styles_are_resolved_once_not_per_paragraph(tmp_path: Path) -> None:
    # python-docx scans every style for each paragraph's: 20,000 took 34 s.
    path = tmp_path / "empty.docx"
    path.write_bytes(_with_body(_bodies(20_000, 0), zipfile.ZIP_STORED))
    assert _load(path) == ["end"]


def test_a_tall_merged_docx_cell_is_read_without_recursion(tmp_path: Path) -> None:
    # python-docx walks up one row per merged cell, recursively: quadratic, then a
    # RecursionError at about 330 rows.
    path = tmp_path / "merged.docx"
    path.write_bytes(_with_body(_bodies(2_000, 3)))
    lines = _load(path)[0].split("\n")
    assert lines == ["a | b"] * 2_001


def test_an_absurd_docx_column_span_lists_the_cell_once(tmp_path: Path) -> None:
    # row.cells repeated the cell once per spanned column: 10^8 took 41 s and 1 GB.
    path = tmp_path / "span.docx"
    path.write_bytes(_with_body(_bodies(8, 4)))
    assert _load(path) == ["a | b"]


def test_a_pdf_declaring_absurdly_many_pages_is_refused(tmp_path: Path) -> None:
    # 100,000 references to one page in 0.6 MB: read page by page it took 10 s.
    path = tmp_path / "pages.pdf"
    path.write_bytes(raw_pdf(100_000, b"[0 0 612 792]", b"", kids=100_000))
    assert _refusal(path) == (
        "pages.pdf: PDF has 100000 pages, over the limit of 10000 (QA_MAX_PDF_PAGES)"
    )


def test_a_pdf_page_larger_than_the_specification_allows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.pdf"
    path.write_bytes(raw_pdf(1, b"[0 0 1000000000 792]", b"BT ET"))
    assert _refusal(path) == (
        "wide.pdf: page 1 is 1000000000 x 792 pt, over the limit of 14400 pt a side "
        "(QA_MAX_PDF_PAGE_POINTS)"
    )


def test_a_pdf_page_drawing_thousands_of_lines_keeps_its_plain_text(tmp_path: Path) -> None:
    # pdfplumber spent 15 s on these 40,000 objects looking for tables (a 100 MB
    # content stream: 300 s and 7 GB).
    ops = b"BT /F1 12 Tf 72 712 Td (Hello world) Tj ET\n0 0 m 100 100 l S\n" * 20_000
    path = tmp_path / "lines.pdf"
    path.write_bytes(raw_pdf(1, b"[0 0 612 792]", ops))
    assert _load(path, cap_s=3.0) == ["Hello world"]


@pytest.mark.parametrize("tag", ["div", "table><tr><td", "ul><li"])
def test_html_nested_past_the_depth_limit_is_refused(tmp_path: Path, tag: str) -> None:
    # 100,000 nested <div>: a RecursionError; 20,000 nested tables: 165 s.
    closing = "".join(f"</{t}>" for t in reversed(tag.split("><")))
    path = tmp_path / "deep.html"
    path.write_text(f"<html><body>{f'<{tag}>' * 100_000}text{closing * 100_000}")
    assert _refusal(path) == (
        "deep.html: HTML nests elements more than 256 deep (the limit, QA_MAX_HTML_DEPTH)"
    )


def test_html_nested_within_the_depth_limit_loads(tmp_path: Path) -> None:
    path = tmp_path / "nested.html"
    path.write_text("<html><body>" + "<div>" * 200 + "<p>Deep text.</p>" + "</div>" * 200)
    assert _load(path) == ["Deep text."]


def test_one_jsonl_record_too_deep_or_too_large_is_skipped_not_the_file(tmp_path: Path) -> None:
    records = [
        '{"id": "deep", "text": "x", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"id": "big", "text": "x", "n": ' + "9" * 10_000 + "}",
        json.dumps({"id": "good", "text": "kept"}),
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(records))
    assert _load(path) == ["kept"]


def test_a_zip_declaring_more_than_it_holds_is_refused(tmp_path: Path) -> None:
    data = bytearray(_with_body("<w:p><w:r><w:t>x</w:t></w:r></w:p>"))
    entry = data.find(b"PK\x01\x02")
    data[entry + 24 : entry + 28] = (2**31).to_bytes(4, "little")
    path = tmp_path / "lying.docx"
    path.write_bytes(bytes(data))
    assert "QA_MAX_UNZIPPED_BYTES" in _refusal(path)
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0].file_size == 2**31


_CELL_PROPS = st.sampled_from(
    [
        "",
        "<w:vMerge/>",
        '<w:vMerge w:val="continue"/>',
        '<w:vMerge w:val="restart"/>',
        '<w:gridSpan w:val="2"/>',
        '<w:gridSpan w:val="0"/>',
        '<w:gridSpan w:val="-1"/>',
        '<w:vMerge/><w:gridSpan w:val="2"/>',
        '<w:vMerge/><w:gridSpan w:val="0"/>',
    ]
)
_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["", '<w:trPr><w:gridBefore w:val="1"/></w:trPr>']),
        st.lists(_CELL_PROPS, max_size=4),
    ),
    min_size=1,
    max_size=6,
)


def _python_docx_lines(table: Table) -> list[str]:
    """The rows as the loader read them before: python-docx's row.cells, repeats of one
    cell object dropped."""
    lines = []
    for row in table.rows:
        listed = row.cells
        unique = [c for i, c in enumerate(listed) if i == 0 or c != listed[i - 1]]
        cells = [" ".join(cell.text.split()) for cell in unique]
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(_ROWS)
def test_docx_tables_read_as_python_docx_reads_them(rows: list[tuple[str, list[str]]]) -> None:
    xml = "".join(
        f"<w:tr>{props}" + "".join(_tc(f"r{r}c{c}", p) for c, p in enumerate(cells)) + "</w:tr>"
        for r, (props, cells) in enumerate(rows)
    )
    element = parse_xml(f"<w:tbl {_W}><w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid>{xml}</w:tbl>")
    table = Table(element, docx.Document()._body)
    try:
        expected: list[str] | None = _python_docx_lines(table)
    except ValueError:  # a merged cell continuing none: python-docx cannot read it
        expected = None
    if expected is None:
        with pytest.raises(LoaderError):
            _table_lines(table, "t.docx")
    else:
        assert _table_lines(table, "t.docx") == expected
