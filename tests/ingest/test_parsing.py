"""Parsing quality on documents the tests make: legal structure in English and Chinese,
a PDF table split over a page break, a scanned PDF, a DOCX with headings and a table,
and an HTML page whose article sits among navigation, sidebar and footer."""

from __future__ import annotations

import logging
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from fpdf.enums import TableHeadingsDisplay
from PIL import Image, ImageDraw

from qa.errors import LoaderError
from qa.ingest import loaders
from qa.ingest.chunking import Chunker, ChunkerConfig
from qa.ingest.loaders import html
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.structure import is_clause, sections
from qa.records import Chunk, Document, Span
from qa.settings import Settings
from tests.ingest.test_chunking import count_tokens

MAX_BYTES = 1_000_000


def _load_one(path: Path, document_id: str = "doc") -> Document:
    docs = list(loaders.load(path, document_id, max_bytes=MAX_BYTES))
    assert len(docs) == 1
    return docs[0]


def _chunks(doc: Document, max_tokens: int) -> list[Chunk]:
    chunks = Chunker(ChunkerConfig(max_tokens=max_tokens, overlap_tokens=0), count_tokens).run(doc)
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start : chunk.end]
    return chunks


def _labels(text: str, spans: list[Span]) -> list[tuple[str, str]]:
    """(first line of the section, its path) for each section."""
    return [(text[s.start : s.end].split("\n", 1)[0], s.label) for s in spans]


# --- legal structure in plain text -----------------------------------------------------------

_ACT = """RESIDENTIAL TENANCIES ACT 2024

Part 1 Preliminary

Section 1. Short title
This Act may be cited as the Residential Tenancies Act 2024.

Section 2. Application
(1) This Act applies to every residential tenancy agreement.
(2) This Act does not apply to holiday lettings, except as provided in
Section 12 of this Act.

PART 2 — BONDS

Section 12. Maximum bond
(1) A landlord must not require a bond of more than 4 weeks' rent.
(2) A bond must be lodged with the Board as required by Section 13.

Section 13 Lodging the bond
A landlord must lodge the bond within 10 business days.
Section 12 applies to a bond paid in instalments.
The Board may extend the time under
Section 12. The landlord must be told.
"""


def test_english_statute_sections_have_hierarchical_paths(tmp_path: Path) -> None:
    path = tmp_path / "act.txt"
    path.write_text(_ACT, encoding="utf-8")
    doc = _load_one(path, "act")
    assert _labels(doc.text, doc.sections) == [
        ("Part 1 Preliminary", "Part 1 Preliminary"),
        ("Section 1. Short title", "Part 1 Preliminary > Section 1. Short title"),
        ("Section 2. Application", "Part 1 Preliminary > Section 2. Application"),
        (
            "(1) This Act applies to every residential tenancy agreement.",
            "Part 1 Preliminary > Section 2. Application > (1)",
        ),
        (
            "(2) This Act does not apply to holiday lettings, except as provided in",
            "Part 1 Preliminary > Section 2. Application > (2)",
        ),
        ("PART 2 — BONDS", "PART 2 — BONDS"),
        ("Section 12. Maximum bond", "PART 2 — BONDS > Section 12. Maximum bond"),
        (
            "(1) A landlord must not require a bond of more than 4 weeks' rent.",
            "PART 2 — BONDS > Section 12. Maximum bond > (1)",
        ),
        (
            "(2) A bond must be lodged with the Board as required by Section 13.",
            "PART 2 — BONDS > Section 12. Maximum bond > (2)",
        ),
        ("Section 13 Lodging the bond", "PART 2 — BONDS > Section 13 Lodging the bond"),
    ]


def test_references_at_the_start_of_a_line_are_not_headings() -> None:
    # Each "Section 12" below starts a line but continues a sentence: a lower-case word
    # follows it, or the line before stops on "in" / "under".
    spans = sections(_ACT)
    for reference in (
        "Section 12 of this Act.",
        "Section 12 applies to a bond",
        "Section 12. The landlord must be told.",
    ):
        offset = _ACT.index(reference)
        assert offset not in {s.start for s in spans}
        holding = [s.label for s in spans if s.start <= offset < s.end]
        assert len(holding) == 1
        assert not holding[0].endswith("Section 12. Maximum bond")


def test_english_statute_chunks_carry_their_section_path(tmp_path: Path) -> None:
    path = tmp_path / "act.txt"
    path.write_text(_ACT, encoding="utf-8")
    doc = _load_one(path, "act")
    chunks = _chunks(doc, 200)
    # The whole Act fits in one chunk; it is cut at each section instead.
    assert [(c.text.split("\n", 1)[0], c.section) for c in chunks] == [
        ("RESIDENTIAL TENANCIES ACT 2024", None),
        ("Part 1 Preliminary", "Part 1 Preliminary > Section 1. Short title"),
        ("Section 2. Application", "Part 1 Preliminary > Section 2. Application"),
        ("PART 2 — BONDS", "PART 2 — BONDS > Section 12. Maximum bond"),
        ("Section 13 Lodging the bond", "PART 2 — BONDS > Section 13 Lodging the bond"),
    ]
    bond = next(c for c in chunks if "4 weeks' rent" in c.text)
    assert "Section 13 Lodging" not in bond.text
    # With a small budget, a chunk holding one clause names it.
    small = _chunks(doc, 16)
    clause = next(c for c in small if c.text.startswith("(2) A bond must be lodged"))
    assert clause.section == "PART 2 — BONDS > Section 12. Maximum bond > (2)"


_GUIDE = """某市图书馆借阅规定

第一章　总则

第一条　为规范本馆文献借阅服务，制定本规定。
第二条　本规定适用于本馆全体读者。借阅证的办理，依照本规定
第十二条的规定执行。

第二章　借阅

第十二条　借阅期限。图书借期为30天。
第二款　续借期为15天。
第13条逾期未还的，按每册每天0.1元收取逾期费。
第十三条第二款　逾期费最高不超过该书定价。
"""


def test_chinese_statute_sections_have_hierarchical_paths(tmp_path: Path) -> None:
    path = tmp_path / "规定.txt"
    path.write_text(_GUIDE, encoding="utf-8")
    doc = _load_one(path, "guide")
    assert [label for _, label in _labels(doc.text, doc.sections)] == [
        "第一章 总则",
        "第一章 总则 > 第一条",
        "第一章 总则 > 第二条",
        "第二章 借阅",
        "第二章 借阅 > 第十二条",
        "第二章 借阅 > 第十二条 > 第二款",
        "第二章 借阅 > 第13条",
        "第二章 借阅 > 第13条 > 第二款",
    ]
    # "第十二条的规定" starts a line only because the sentence wrapped there.
    reference = doc.text.index("第十二条的规定")
    holding = [s.label for s in doc.sections if s.start <= reference < s.end]
    assert holding == ["第一章 总则 > 第二条"]


def test_chinese_statute_chunks_carry_their_section_path(tmp_path: Path) -> None:
    path = tmp_path / "规定.txt"
    path.write_text(_GUIDE, encoding="utf-8")
    doc = _load_one(path, "guide")
    chunks = _chunks(doc, 200)
    assert [(c.text[:4], c.section) for c in chunks] == [
        ("某市图书", None),
        ("第一章　", "第一章 总则 > 第一条"),
        ("第二条　", "第一章 总则 > 第二条"),
        ("第二章　", "第二章 借阅 > 第十二条"),
        ("第13条", "第二章 借阅 > 第13条"),
    ]
    loan = next(c for c in chunks if "借期为30天" in c.text)
    assert "续借期为15天" in loan.text
    assert "逾期" not in loan.text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Article 5(2) The controller shall keep records.", ["Article 5 > (2)"]),
        ("CHAPTER II\nArticle 5\nPrinciples.", ["CHAPTER II", "CHAPTER II > Article 5"]),
        ("Division 3 Fees\n§ 4. Amount", ["Division 3 Fees", "Division 3 Fees > § 4. Amount"]),
        ("第三编　合同\n第一节　一般规定", ["第三编 合同", "第三编 合同 > 第一节 一般规定"]),
        ("第十二条第二款　出租人应当返还押金。", ["第十二条 > 第二款"]),
        ("The fee is set by\nArticle 5 of the Regulation.", []),
        ("see Section 4 for details", []),
        ("依照本法第十二条第二款的规定处理。", []),
        ("(2) A clause with no article before it.", []),
        ("Part 1 Preliminary ........ 3\nSection 1 Short title ...... 3", []),
    ],
)
def test_division_markers(line: str, expected: list[str]) -> None:
    assert [s.label for s in sections(line)] == expected


@pytest.mark.parametrize(
    ("numeral", "arabic"),
    [("十", "10"), ("十二", "12"), ("二十", "20"), ("一百零五", "105"), ("两万三千", "23000")],
)
def test_chinese_numerals_and_arabic_name_the_same_article(numeral: str, arabic: str) -> None:
    # "第12条第二款" continues the open "第十二条" rather than opening another article.
    text = f"第{numeral}条　甲。\n第{arabic}条第二款　乙。\n"
    assert [s.label for s in sections(text)] == [f"第{numeral}条", f"第{numeral}条 > 第二款"]


def test_article_and_section_in_one_document_nest_by_first_use() -> None:
    text = "Article I\nSection 1. Powers\nAll powers vest here.\nSection 2. House\nIt sits.\n"
    assert [s.label for s in sections(text)] == [
        "Article I",
        "Article I > Section 1. Powers",
        "Article I > Section 2. House",
    ]


def test_running_page_header_does_not_reopen_a_division() -> None:
    text = "Part 2 Bonds\nSection 12. Maximum bond\nFour weeks.\nPart 2 Bonds\nStill section 12.\n"
    spans = sections(text)
    still = text.index("Still")
    assert [s.label for s in spans if s.start <= still < s.end] == [
        "Part 2 Bonds > Section 12. Maximum bond"
    ]


def test_legal_divisions_nest_under_explicit_headings() -> None:
    text = "Tenancy Act\nSection 3. Application\n(1) Leases.\n(2) Not hotels.\nSchedule\nForms.\n"
    headings = [(0, 1, "Tenancy Act"), (text.index("Schedule"), 1, "Schedule")]
    assert _labels(text, sections(text, headings)) == [
        ("Tenancy Act", "Tenancy Act"),
        ("Section 3. Application", "Tenancy Act > Section 3. Application"),
        ("(1) Leases.", "Tenancy Act > Section 3. Application > (1)"),
        ("(2) Not hotels.", "Tenancy Act > Section 3. Application > (2)"),
        ("Schedule", "Schedule"),
    ]


def test_is_clause() -> None:
    assert is_clause("Part 2 > Section 12 > (2)")
    assert is_clause("第二章 > 第十二条 > 第二款")
    assert not is_clause("Part 2 > Section 12")
    assert not is_clause("Notes > (a)")


def test_markdown_code_block_lines_are_not_divisions(tmp_path: Path) -> None:
    text = "# Section 4. Tools\n\n```\n(1) not a clause\nPart 2 Not a part\n```\n\n(2) A clause.\n"
    path = tmp_path / "tools.md"
    path.write_text(text, encoding="utf-8")
    assert [s.label for s in _load_one(path).sections] == [
        "Section 4. Tools",
        "Section 4. Tools > (2)",
    ]


def test_markdown_headings_with_clauses_in_the_body(tmp_path: Path) -> None:
    text = (
        "# Act\n\n## Part 2 — Bonds\n\n### Section 12. Maximum bond\n\n"
        "(1) Four weeks' rent at most.\n\n(2) Lodged with the Board.\n\n"
        "### Section 13. Receipts\n\nGive a receipt.\n"
    )
    path = tmp_path / "act.md"
    path.write_text(text, encoding="utf-8")
    doc = _load_one(path)
    assert [s.label for s in doc.sections] == [
        "Act",
        "Act > Part 2 — Bonds",
        "Act > Part 2 — Bonds > Section 12. Maximum bond",
        "Act > Part 2 — Bonds > Section 12. Maximum bond > (1)",
        "Act > Part 2 — Bonds > Section 12. Maximum bond > (2)",
        "Act > Part 2 — Bonds > Section 13. Receipts",
    ]
    assert [c.section for c in _chunks(doc, 200)] == [
        "Act > Part 2 — Bonds > Section 12. Maximum bond",
        "Act > Part 2 — Bonds > Section 13. Receipts",
    ]


# --- docx --------------------------------------------------------------------------------------


def _write_handbook(path: Path) -> None:
    document = docx.Document()
    document.add_heading("Staff Handbook", level=1)
    document.add_paragraph("This handbook applies to all staff.")
    document.add_heading("Leave", level=2)
    document.add_paragraph("Leave accrues monthly.")
    table = document.add_table(rows=4, cols=3)
    rows = [
        ("Leave type", "Days", "Notes"),
        ("Annual", "20", "pro rata"),
        ("Sick", "10", "certificate after 2 days"),
    ]
    for row, values in zip(table.rows, rows, strict=False):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    parental = table.rows[3].cells
    parental[0].text = "Parental"
    parental[1].merge(parental[2]).text = "See the parental leave policy"
    document.add_heading("Notice", level=2)
    document.add_paragraph("Section 12. Notice periods")
    document.add_paragraph("(1) Staff give four weeks' notice.")
    document.add_paragraph("(2) The employer gives eight weeks' notice.")
    document.save(str(path))


def test_docx_headings_as_sections_and_table_as_rows(tmp_path: Path) -> None:
    path = tmp_path / "handbook.docx"
    _write_handbook(path)
    doc = _load_one(path, "handbook")
    assert doc.text.split("\n") == [
        "Staff Handbook",
        "This handbook applies to all staff.",
        "Leave",
        "Leave accrues monthly.",
        "Leave type | Days | Notes",
        "Annual | 20 | pro rata",
        "Sick | 10 | certificate after 2 days",
        "Parental | See the parental leave policy",
        "Notice",
        "Section 12. Notice periods",
        "(1) Staff give four weeks' notice.",
        "(2) The employer gives eight weeks' notice.",
    ]
    assert _labels(doc.text, doc.sections) == [
        ("Staff Handbook", "Staff Handbook"),
        ("Leave", "Staff Handbook > Leave"),
        ("Notice", "Staff Handbook > Notice"),
        ("Section 12. Notice periods", "Staff Handbook > Notice > Section 12. Notice periods"),
        (
            "(1) Staff give four weeks' notice.",
            "Staff Handbook > Notice > Section 12. Notice periods > (1)",
        ),
        (
            "(2) The employer gives eight weeks' notice.",
            "Staff Handbook > Notice > Section 12. Notice periods > (2)",
        ),
    ]
    chunks = _chunks(doc, 200)
    assert [(c.text.split("\n")[0], c.section) for c in chunks] == [
        ("Staff Handbook", "Staff Handbook"),
        ("Leave", "Staff Handbook > Leave"),
        ("Notice", "Staff Handbook > Notice > Section 12. Notice periods"),
    ]
    assert chunks[1].text.endswith("Parental | See the parental leave policy")


# --- html ----------------------------------------------------------------------------------------

_NEWS = """<!DOCTYPE html>
<html><head><title>Harbour bridge to close | City News</title></head>
<body>
<div class="site-header"><a href="/">City News</a> <span>Tuesday 4 June</span></div>
<div class="nav"><ul>
  <li><a href="/">Home</a></li><li><a href="/transport">Transport</a></li>
  <li><a href="/weather">Weather</a></li><li><a href="/contact">Contact us</a></li>
</ul></div>
<div class="layout">
<div id="sidebar" class="sidebar">
  <h3>Most read</h3>
  <ul><li><a href="/a">Ferry fares frozen for winter</a></li>
      <li><a href="/b">New library opens in Eastgate</a></li></ul>
</div>
<div class="article-body">
<h1>Harbour bridge to close for repairs</h1>
<p>The harbour bridge will close for six weeks from 3 March while engineers replace
the expansion joints, the council said on Monday.</p>
<h2>Detours</h2>
<p>Buses will use the ring road during the closure. Cyclists may take the ferry at no
charge; it runs every twenty minutes from 6am.</p>
<table>
<tr><th>Route</th><th>Detour</th></tr>
<tr><td>12</td><td>Ring road</td></tr>
<tr><td>14</td><td>Ferry terminal</td></tr>
</table>
<p>The council expects delays of up to fifteen minutes at peak times.</p>
</div>
</div>
<div class="footer">Copyright 2024 City Council. All rights reserved.
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></div>
</body></html>
"""


def test_html_article_among_navigation_sidebar_and_footer(tmp_path: Path) -> None:
    path = tmp_path / "news.html"
    path.write_text(_NEWS, encoding="utf-8")
    doc = _load_one(path, "news")
    assert doc.text.split("\n") == [
        "Harbour bridge to close for repairs",
        "The harbour bridge will close for six weeks from 3 March while engineers replace "
        "the expansion joints, the council said on Monday.",
        "Detours",
        "Buses will use the ring road during the closure. Cyclists may take the ferry at no "
        "charge; it runs every twenty minutes from 6am.",
        "Route | Detour",
        "12 | Ring road",
        "14 | Ferry terminal",
        "The council expects delays of up to fifteen minutes at peak times.",
    ]
    assert doc.title == "Harbour bridge to close | City News"
    assert _labels(doc.text, doc.sections) == [
        ("Harbour bridge to close for repairs", "Harbour bridge to close for repairs"),
        ("Detours", "Harbour bridge to close for repairs > Detours"),
    ]
    # The page marks none of its furniture with <nav>, <aside> or <footer>: the built-in
    # extractor alone keeps all of it.
    builtin = "\n".join(html._builtin(_NEWS)[1])
    for furniture in ("Contact us", "Most read", "Ferry fares", "Copyright", "Tuesday"):
        assert furniture in builtin
        assert furniture not in doc.text


def test_html_that_main_content_extraction_rejects_still_loads(tmp_path: Path) -> None:
    # trafilatura drops a page whose only text is in a block classed as a sidebar.
    markup = '<html><body><div class="sidebar">Open 9 to 5 on weekdays.</div></body></html>'
    assert html._trafilatura(markup)[1] == []
    path = tmp_path / "hours.html"
    path.write_text(markup, encoding="utf-8")
    doc = _load_one(path)
    assert doc.text == "Open 9 to 5 on weekdays."
    assert doc.title == "hours"


# --- pdf -----------------------------------------------------------------------------------------

_FEE_ROWS = [("Service", "Fee", "Unit")] + [
    (f"Service {n}", f"{n * 5} dollars", "hour" if n % 2 else "day") for n in range(1, 21)
]


def _pdf() -> FPDF:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    return pdf


def _line(pdf: FPDF, text: str) -> None:
    pdf.cell(text=text, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, rows: list[tuple[str, ...]], repeat_header: bool = False) -> None:
    repeat = (
        TableHeadingsDisplay.ON_TOP_OF_EVERY_PAGE if repeat_header else TableHeadingsDisplay.NONE
    )
    with pdf.table(repeat_headings=repeat) as table:
        for values in rows:
            row = table.row()
            for value in values:
                row.cell(value)


def _write_fee_schedule(path: Path, repeat_header: bool = False) -> None:
    """Thirty lines of notes, then a table too long for the rest of page 1."""
    pdf = _pdf()
    _line(pdf, "Schedule of fees 2024")
    for n in range(1, 31):
        _line(pdf, f"Note {n}: fees are payable when booking.")
    _table(pdf, _FEE_ROWS, repeat_header)
    _line(pdf, "Fees are reviewed every year.")
    pdf.output(str(path))


def _page_text(doc: Document, label: str) -> str:
    page = next(p for p in doc.pages if p.label == label)
    return doc.text[page.start : page.end]


def test_pdf_table_split_over_a_page_break_keeps_rows_and_repeats_its_header(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fees.pdf"
    _write_fee_schedule(path)
    doc = _load_one(path, "fees")
    assert [p.label for p in doc.pages] == ["1", "2"]
    header = "Service | Fee | Unit"
    rows = [" | ".join(r) for r in _FEE_ROWS[1:]]
    page_1, page_2 = _page_text(doc, "1"), _page_text(doc, "2")
    assert page_1.startswith("Schedule of fees 2024\nNote 1: fees are payable when booking.\n")
    # The table is set off from the notes by a blank line, one "cell | cell" line a row.
    table_1 = page_1.split("\n\n")[1].split("\n")
    assert table_1[0] == header
    assert table_1[1:] == rows[: len(table_1) - 1]
    split = len(table_1) - 1
    assert 0 < split < len(rows)
    # Page 2 opens with the header again, then the rows that did not fit on page 1.
    table_2, after = page_2.split("\n\n")
    assert table_2.split("\n") == [header, *rows[split:]]
    assert after == "Fees are reviewed every year."
    assert doc.text.count(header) == 2
    assert "Service Fee Unit" not in doc.text
    # A chunk of the second page says what its columns are, and cites page 2.
    chunks = _chunks(doc, 60)
    last_row = next(c for c in chunks if rows[-1] in c.text)
    assert last_row.page == 2
    assert last_row.text.startswith(header + "\n" + rows[split])


def test_pdf_that_repeats_the_header_itself_does_not_get_it_twice(tmp_path: Path) -> None:
    path = tmp_path / "fees.pdf"
    _write_fee_schedule(path, repeat_header=True)
    doc = _load_one(path, "fees")
    assert _page_text(doc, "2").startswith("Service | Fee | Unit\nService ")
    assert doc.text.count("Service | Fee | Unit") == 2


def test_pdf_table_after_text_is_not_taken_for_a_continuation(tmp_path: Path) -> None:
    pdf = _pdf()
    _line(pdf, "Opening hours")
    _table(pdf, [("Day", "Open", "Close"), ("Monday", "9", "17")])
    _line(pdf, "Closed on public holidays.")
    pdf.add_page()
    _table(pdf, [("Room", "Seats", "Floor"), ("Reading room", "40", "2")])
    path = tmp_path / "hours.pdf"
    pdf.output(str(path))
    doc = _load_one(path)
    assert _page_text(doc, "1") == (
        "Opening hours\n\nDay | Open | Close\nMonday | 9 | 17\n\nClosed on public holidays."
    )
    assert _page_text(doc, "2") == "Room | Seats | Floor\nReading room | 40 | 2"


def test_pdf_statute_sections_run_across_the_page_break(tmp_path: Path) -> None:
    pdf = _pdf()
    for line in (
        "Part 1 Preliminary",
        "Section 1. Short title",
        "This Act is the Bonds Act 2024.",
        "Section 2. Application",
        "(1) This Act applies to every lease.",
    ):
        _line(pdf, line)
    pdf.add_page()
    _line(pdf, "(2) It does not apply to hotels.")
    path = tmp_path / "act.pdf"
    pdf.output(str(path))
    doc = _load_one(path, "act")
    chunks = _chunks(doc, 200)
    assert [(c.text.split("\n")[0], c.page, c.section) for c in chunks] == [
        ("Part 1 Preliminary", 1, "Part 1 Preliminary > Section 1. Short title"),
        # The page break cuts Section 2: each part names the clause it holds.
        ("Section 2. Application", 1, "Part 1 Preliminary > Section 2. Application > (1)"),
        (
            "(2) It does not apply to hotels.",
            2,
            "Part 1 Preliminary > Section 2. Application > (2)",
        ),
    ]


def _scan(pdf: FPDF) -> None:
    """A page that is only a picture of text, as a scanner makes it."""
    image = Image.new("L", (400, 120), 255)
    ImageDraw.Draw(image).text((10, 50), "Section 1. This page was scanned.", fill=0)
    pdf.image(image, x=10, y=10, w=180)


def _without_ocr(path: Path, document_id: str) -> Document:
    """As read with QA_OCR_ENGINE=none (tests/ingest/test_ocr.py reads scans with OCR)."""
    limits = LoaderLimits.from_settings(Settings(ocr_engine="none"))
    (doc,) = loaders.load(path, document_id, max_bytes=MAX_BYTES, limits=limits)
    return doc


def test_scanned_pdf_is_reported_as_having_no_text_layer_when_ocr_is_off(tmp_path: Path) -> None:
    pdf = _pdf()
    _scan(pdf)
    pdf.add_page()
    _scan(pdf)
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    with pytest.raises(LoaderError) as info:
        _without_ocr(path, "scan")
    assert info.value.detail == (
        "scan: PDF has no text layer (scanned images?) and OCR is off (QA_OCR_ENGINE)"
    )


def test_scanned_page_in_a_pdf_with_text_is_named_in_a_warning_when_ocr_is_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pdf = _pdf()
    _line(pdf, "Cover letter for the scanned form.")
    pdf.add_page()
    _scan(pdf)
    path = tmp_path / "mixed.pdf"
    pdf.output(str(path))
    with caplog.at_level(logging.WARNING, logger="qa.ingest.loaders.pdf"):
        doc = _without_ocr(path, "mixed")
    assert doc.text == "Cover letter for the scanned form."
    assert doc.pages == [Span(0, len(doc.text), "1")]
    assert [r.getMessage() for r in caplog.records] == [
        "mixed: page(s) 2 have no usable text layer (scanned?) and OCR is off; their text "
        "is missing"
    ]
