"""Loaders: each format from a small file written by the test, and each way a file can be bad."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from qa.errors import LoaderError
from qa.ingest import loaders
from qa.records import Document, Span

MAX_BYTES = 1_000_000


def _load(path: Path, document_id: str = "doc", max_bytes: int = MAX_BYTES) -> list[Document]:
    return list(loaders.load(path, document_id, max_bytes=max_bytes))


def _load_one(path: Path, document_id: str = "doc") -> Document:
    docs = _load(path, document_id)
    assert len(docs) == 1
    return docs[0]


def _load_error(path: Path, document_id: str = "doc", max_bytes: int = MAX_BYTES) -> str:
    with pytest.raises(LoaderError) as info:
        _load(path, document_id, max_bytes)
    return info.value.detail


def _write_pdf(path: Path, pages: list[list[str]]) -> None:
    """One page per list of lines; a page with no lines gets only a drawn rectangle."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for lines in pages:
        pdf.add_page()
        if not lines:
            pdf.rect(20, 20, 60, 40, style="F")
        for line in lines:
            pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def _junk(size: int) -> bytes:
    return bytes((i * 37 + 11) % 256 for i in range(size))


# --- plain text ------------------------------------------------------------------------------


def test_txt_utf8_keeps_text_and_normalises_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "refunds.txt"
    path.write_bytes(b"\n  Refund policy\r\nRefunds take 14 days.\rCall us.\n")
    doc = _load_one(path, "refunds")
    assert doc.id == "refunds"
    assert doc.text == "\n  Refund policy\nRefunds take 14 days.\nCall us.\n"
    assert doc.title == "Refund policy"
    assert doc.source == str(path)
    assert doc.pages == []
    assert doc.sections == []


def test_txt_utf8_with_bom_drops_the_bom(tmp_path: Path) -> None:
    path = tmp_path / "menu.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "Café menu\nCrème brûlée costs 7 euros.\n".encode())
    doc = _load_one(path)
    assert doc.text == "Café menu\nCrème brûlée costs 7 euros.\n"
    assert doc.title == "Café menu"


def test_txt_gb18030_chinese(tmp_path: Path) -> None:
    text = "退款政策\n退款需要十四天。\n"
    raw = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the file really needs the GB18030 fallback
    path = tmp_path / "policy.txt"
    path.write_bytes(raw)
    doc = _load_one(path)
    assert doc.text == text
    assert doc.title == "退款政策"


def test_txt_title_strips_leading_hashes(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("# Heading style first line\nbody\n", encoding="utf-8")
    assert _load_one(path).title == "Heading style first line"


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "NOTES.TXT"
    path.write_text("Upper case suffix.\n", encoding="utf-8")
    assert _load_one(path).text == "Upper case suffix.\n"


# --- markdown --------------------------------------------------------------------------------

_MARKDOWN = """Intro line before any heading.

# Act

Preamble of the act.

## Part 1

Part one text.

## Part 2

### Section 12

Section twelve says the fee is 30 dollars.

### Section 13 ###

Thirteen.

# Schedule

Last words.
"""


def test_markdown_title_and_heading_path_sections(tmp_path: Path) -> None:
    path = tmp_path / "act.md"
    path.write_text(_MARKDOWN, encoding="utf-8")
    doc = _load_one(path, "act")
    assert doc.text == _MARKDOWN
    assert doc.title == "Act"

    def at(line: str) -> int:
        return _MARKDOWN.index("\n" + line + "\n") + 1

    act, p1, p2 = at("# Act"), at("## Part 1"), at("## Part 2")
    s12, s13, schedule = at("### Section 12"), at("### Section 13 ###"), at("# Schedule")
    assert doc.sections == [
        Span(act, p1, "Act"),
        Span(p1, p2, "Act > Part 1"),
        Span(p2, s12, "Act > Part 2"),
        Span(s12, s13, "Act > Part 2 > Section 12"),
        Span(s13, schedule, "Act > Part 2 > Section 13"),
        Span(schedule, len(_MARKDOWN), "Schedule"),
    ]
    fee = _MARKDOWN.index("the fee is 30 dollars")
    holding = [s.label for s in doc.sections if s.start <= fee < s.end]
    assert holding == ["Act > Part 2 > Section 12"]


def test_markdown_title_without_level_one_heading_uses_first_line(tmp_path: Path) -> None:
    path = tmp_path / "sub.md"
    path.write_text("## Only a subheading\n\nBody text.\n", encoding="utf-8")
    doc = _load_one(path)
    assert doc.title == "Only a subheading"
    assert doc.sections == [Span(0, len(doc.text), "Only a subheading")]


def test_markdown_hash_lines_inside_code_fences_are_not_headings(tmp_path: Path) -> None:
    text = "# Guide\n\n## Install\n\n```bash\n# install the deps\npip install qa\n```\n\nDone.\n"
    path = tmp_path / "guide.md"
    path.write_text(text, encoding="utf-8")
    doc = _load_one(path)
    install = text.index("## Install")
    assert doc.sections == [
        Span(0, install, "Guide"),
        Span(install, len(text), "Guide > Install"),
    ]


def test_markdown_heading_keeps_a_hash_that_is_part_of_the_text(tmp_path: Path) -> None:
    # CommonMark: a closing run of '#' only counts when a space precedes it.
    text = "# Languages\n\n## Using C#\n\nIt compiles.\n"
    path = tmp_path / "lang.md"
    path.write_text(text, encoding="utf-8")
    doc = _load_one(path)
    assert [s.label for s in doc.sections] == ["Languages", "Languages > Using C#"]


# --- html ------------------------------------------------------------------------------------

_HTML = """<!DOCTYPE html>
<html><head><title>Fee Schedule</title><style>body { color: red }</style></head>
<body>
<header><p>Site header banner</p></header>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<main>
<h1>Fees</h1>
<p>The standard fee is <b>30</b> dollars.</p>
<script>var tracking = "do not index";</script>
<h2>Table of fees</h2>
<table>
<tr><th>Item</th><th>Price</th><th>Notes</th></tr>
<tr><td>Alpha</td><td>42</td><td>yes</td></tr>
</table>
<h3>Details</h3>
<p>Late payments
   cost extra.</p>
</main>
<aside>Related links</aside>
<footer>Copyright footer</footer>
</body></html>
"""


def test_html_main_content_only_with_headings_as_sections(tmp_path: Path) -> None:
    path = tmp_path / "fees.html"
    path.write_text(_HTML, encoding="utf-8")
    doc = _load_one(path, "fees")
    lines = doc.text.split("\n")
    assert lines[:3] == ["Fees", "The standard fee is 30 dollars.", "Table of fees"]
    assert lines[5:] == ["Details", "Late payments cost extra."]
    for dropped in ("Site header", "Home", "About", "tracking", "color", "Related", "Copyright"):
        assert dropped not in doc.text
    assert doc.title == "Fee Schedule"
    fees, table, details = (doc.text.index(h) for h in ("Fees", "Table of fees", "Details"))
    assert doc.sections == [
        Span(fees, table, "Fees"),
        Span(table, details, "Fees > Table of fees"),
        Span(details, len(doc.text), "Fees > Table of fees > Details"),
    ]


def test_html_table_rows_render_cells_separated_by_bars(tmp_path: Path) -> None:
    path = tmp_path / "fees.html"
    path.write_text(_HTML, encoding="utf-8")
    lines = _load_one(path).text.split("\n")
    # Same rendering as DOCX tables: cells joined by " | ", no dangling separator.
    assert lines[3:5] == ["Item | Price | Notes", "Alpha | 42 | yes"]


def test_html_table_with_thead_and_tbody_keeps_rows_and_cells_apart(tmp_path: Path) -> None:
    path = tmp_path / "prices.html"
    path.write_text(
        "<html><body><main><table>"
        "<thead><tr><th>Item</th><th>Price</th></tr></thead>"
        "<tbody><tr><td>Alpha</td><td>42</td></tr><tr><td>Beta</td><td>7</td></tr></tbody>"
        "</table></main></body></html>",
        encoding="utf-8",
    )
    lines = _load_one(path).text.split("\n")
    assert len(lines) == 3
    assert [[c.strip() for c in line.split("|") if c.strip()] for line in lines] == [
        ["Item", "Price"],
        ["Alpha", "42"],
        ["Beta", "7"],
    ]


def test_html_comments_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "c.html"
    path.write_text(
        "<html><body><main><!-- internal: remove before launch --><p>Public text.</p>"
        "</main></body></html>",
        encoding="utf-8",
    )
    assert _load_one(path).text == "Public text."


def test_html_without_main_or_title_uses_body_and_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "plain.htm"
    path.write_text(
        "<html><body><nav>Menu</nav><h2>Opening hours</h2><div>Mon to Fri.</div>"
        "<div>Closed <i>Sundays</i>.</div></body></html>",
        encoding="utf-8",
    )
    doc = _load_one(path)
    assert doc.text == "Opening hours\nMon to Fri.\nClosed Sundays."
    assert doc.title == "Opening hours"
    assert doc.sections == [Span(0, len(doc.text), "Opening hours")]


# --- pdf -------------------------------------------------------------------------------------

_PAGE_1 = ["Annual report 2023", "Revenue grew by ten percent in Zurich."]
_PAGE_2 = ["Appendix", "The warehouse is in Rotterdam."]


def test_pdf_two_pages_have_page_spans(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    _write_pdf(path, [_PAGE_1, _PAGE_2])
    doc = _load_one(path, "report")
    page_1, page_2 = "\n".join(_PAGE_1), "\n".join(_PAGE_2)
    assert doc.text == page_1 + "\n\n" + page_2
    assert doc.pages == [
        Span(0, len(page_1), "1"),
        Span(len(page_1) + 2, len(page_1) + 2 + len(page_2), "2"),
    ]
    assert [doc.text[p.start : p.end] for p in doc.pages] == [page_1, page_2]
    fact = doc.text.index("Rotterdam")
    assert [p.label for p in doc.pages if p.start <= fact < p.end] == ["2"]
    assert doc.title == "Annual report 2023"
    assert doc.source == str(path)


def test_pdf_latin1_text_survives(tmp_path: Path) -> None:
    path = tmp_path / "cafe.pdf"
    _write_pdf(path, [["Café crème à Zürich"]])
    doc = _load_one(path)
    assert doc.text == "Café crème à Zürich"
    assert doc.pages == [Span(0, len(doc.text), "1")]


def test_pdf_blank_first_page_is_skipped_and_later_pages_keep_their_numbers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cover.pdf"
    _write_pdf(path, [[], _PAGE_2])
    doc = _load_one(path, "cover")
    page_2 = "\n".join(_PAGE_2)
    assert doc.text == page_2
    assert doc.pages == [Span(0, len(page_2), "2")]
    assert doc.title == "Appendix"


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    _write_pdf(path, [[], []])
    detail = _load_error(path, "scan-7")
    assert detail.startswith("scan-7: ")
    assert "no text layer" in detail


def test_pdf_that_needs_a_password(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.cell(text="Confidential salaries.")
    path = tmp_path / "locked.pdf"
    pdf.output(str(path))
    assert _load_error(path, "locked") == "locked: PDF is encrypted"


def test_pdf_with_only_an_owner_password_is_read(tmp_path: Path) -> None:
    # An owner password restricts editing and printing; anyone may open and read the file.
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.cell(text="Public timetable.")
    path = tmp_path / "restricted.pdf"
    pdf.output(str(path))
    assert _load_one(path).text == "Public timetable."


def test_pdf_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdf"
    path.write_bytes(_junk(2000))
    detail = _load_error(path, "junk-pdf")
    assert detail.startswith("junk-pdf: not a readable PDF (")


# --- docx ------------------------------------------------------------------------------------


def _write_docx(path: Path, title: str | None = None) -> None:
    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    document.add_heading("Tenancy Guide", level=1)
    document.add_paragraph("This   guide covers deposits.")
    document.add_heading("Deposits", level=2)
    document.add_paragraph("Deposits are capped.")
    table = document.add_table(rows=2, cols=3)
    for row, values in zip(table.rows, (("a", "b", "c"), ("Weeks", "5", "capped")), strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("")
    document.add_paragraph("After the table.")
    document.add_heading("Repairs", level=2)
    document.add_paragraph("Landlords fix boilers.")
    document.save(str(path))


def test_docx_paragraphs_tables_and_heading_sections_in_order(tmp_path: Path) -> None:
    path = tmp_path / "tenancy.docx"
    _write_docx(path)
    doc = _load_one(path, "tenancy")
    assert doc.text == (
        "Tenancy Guide\n"
        "This guide covers deposits.\n"
        "Deposits\n"
        "Deposits are capped.\n"
        "a | b | c\n"
        "Weeks | 5 | capped\n"
        "After the table.\n"
        "Repairs\n"
        "Landlords fix boilers."
    )
    assert doc.title == "Tenancy Guide"
    deposits, repairs = doc.text.index("Deposits\n"), doc.text.index("Repairs")
    assert doc.sections == [
        Span(0, deposits, "Tenancy Guide"),
        Span(deposits, repairs, "Tenancy Guide > Deposits"),
        Span(repairs, len(doc.text), "Tenancy Guide > Repairs"),
    ]
    assert doc.source == str(path)


def test_docx_core_title_wins_over_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "titled.docx"
    _write_docx(path, title="Official Title")
    assert _load_one(path).title == "Official Title"


def test_docx_without_text(tmp_path: Path) -> None:
    path = tmp_path / "blank.docx"
    docx.Document().save(str(path))
    assert _load_error(path, "blank") == "blank: no text in the file"


def test_docx_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "junk.docx"
    path.write_bytes(_junk(2000))
    detail = _load_error(path, "junk-docx")
    assert detail.startswith("junk-docx: not a readable DOCX file (")


# --- jsonl -----------------------------------------------------------------------------------


def test_jsonl_good_records_load_and_bad_lines_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [
        json.dumps({"id": "a", "text": "Alpha text.", "title": "Alpha", "metadata": {"k": 1}}),
        "{not json",
        json.dumps({"id": "no-text", "title": "Missing text"}),
        "",
        json.dumps({"id": "b", "text": "第二条记录。"}, ensure_ascii=False),
        json.dumps(["a", "list"]),
        json.dumps({"id": "a", "text": "Duplicate of a."}),
        json.dumps({"id": "c", "text": "Gamma.", "metadata": {"lang": "en", "tags": ["x"]}}),
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="qa.ingest.loaders.jsonl"):
        docs = _load(path, "corpus")
    assert [(d.id, d.text, d.title, d.metadata) for d in docs] == [
        ("a", "Alpha text.", "Alpha", {"k": 1}),
        ("b", "第二条记录。", "", {}),
        ("c", "Gamma.", "", {"lang": "en", "tags": ["x"]}),
    ]
    assert {d.source for d in docs} == {str(path)}
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 4
    assert skipped[0].startswith("skipped corpus:2: not valid JSON")
    assert skipped[1] == "skipped corpus:3: 'text' must be a non-empty string"
    assert skipped[2] == "skipped corpus:6: a record must be a JSON object"
    assert skipped[3] == "skipped corpus:7: duplicate id 'a'"


def test_jsonl_only_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x"}\n[1, 2]\n{oops\n', encoding="utf-8")
    assert _load_error(path, "bad") == "bad: no valid records (3 bad)"


def test_jsonl_text_with_unicode_line_separator_stays_one_record(tmp_path: Path) -> None:
    # JSON Lines separates records by "\n" only; U+2028 may appear raw inside a string.
    records = [{"id": "p", "text": "First line\u2028second line"}, {"id": "q", "text": "Q."}]
    path = tmp_path / "sep.jsonl"
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8"
    )
    assert [(d.id, d.text) for d in _load(path)] == [
        ("p", "First line\u2028second line"),
        ("q", "Q."),
    ]


# --- files that cannot be loaded -------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.txt", "empty.md", "empty.pdf", "empty.docx", "e.jsonl"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    assert _load_error(path, "empty-1") == "empty-1: file is empty"


def test_whitespace_only_text(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text(" \n\t\n  ", encoding="utf-8")
    assert _load_error(path, "blank") == "blank: no text in the file"


def test_binary_junk_named_txt(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(_junk(4096))
    assert _load_error(path, "img") == "img: looks like a binary file, not text"


def test_control_characters_without_nul_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "ctrl.md"
    path.write_bytes(b"text " + bytes(range(1, 9)) * 20 + b" more text")
    assert _load_error(path, "ctrl") == "ctrl: looks like a binary file, not text"


def test_text_in_neither_utf8_nor_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf\xff\xff\xff text")
    assert _load_error(path, "enc") == "enc: not valid UTF-8 or GB18030 text"


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 100)
    assert _load_error(path, "big", max_bytes=99) == "big: file is 100 bytes, over the limit of 99"
    assert [d.text for d in _load(path, "big", max_bytes=100)] == ["x" * 100]


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    path.write_bytes(b"PK\x03\x04")
    detail = _load_error(path, "archive")
    assert detail.startswith("archive: unsupported file type '.zip' (supported: ")
    assert ".docx" in detail
    assert ".pdf" in detail
    assert not loaders.supported(path)
    assert loaders.supported(tmp_path / "a.MD")


def test_missing_file(tmp_path: Path) -> None:
    detail = _load_error(tmp_path / "gone.txt", "gone")
    assert detail.startswith("gone: cannot read file: ")
