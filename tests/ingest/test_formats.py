"""The formats beyond text, PDF and DOCX: slides, spreadsheets, e-books, OpenDocument,
RTF and mail, each from a file the test writes, with a Chinese case, a hostile case for
each zip format (refused naming its limit) and an empty one."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import mailbox
import zipfile
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pptx
import pytest
from ebooklib import epub
from odf.opendocument import OpenDocumentText
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import H, P
from pptx.util import Inches

from qa.errors import LoaderError
from qa.ingest import loaders
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.pipeline import Ingestor
from qa.records import Document, SearchRequest
from qa.store.faiss.store import FaissStore
from tests.conftest import HashingEmbedder
from tests.ingest.hostile import LIMITS, time_cap

MAX_BYTES = 10_000_000


def _load(path: Path, document_id: str = "doc", limits: LoaderLimits = LIMITS) -> list[Document]:
    return list(loaders.load(path, document_id, max_bytes=MAX_BYTES, limits=limits))


def _error(path: Path, limits: LoaderLimits = LIMITS) -> str:
    with pytest.raises(LoaderError) as info:
        _load(path, limits=limits)
    return info.value.detail


def _section_of(doc: Document, needle: str) -> str:
    at = doc.text.index(needle)
    return next(s.label for s in doc.sections if s.start <= at < s.end)


def _page_of(doc: Document, needle: str) -> str:
    at = doc.text.index(needle)
    return next(p.label for p in doc.pages if p.start <= at < p.end)


def _bomb(path: Path, member: str) -> Path:
    """A zip holding one member of 4 MB of zeros: small compressed, past the ratio limit."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, b"\0" * 4_000_000)
    return path


TINY_UNZIP = dataclasses.replace(LIMITS, unzipped_bytes=1000)


# --- PPTX --------------------------------------------------------------------------------------


def _deck(path: Path) -> Path:
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Dosage"
    first.placeholders[1].text = "Adults take two tablets.\nChildren take one."
    first.notes_slide.notes_text_frame.text = "Stress the 24-hour maximum of eight tablets."
    deck.slides.add_slide(deck.slide_layouts[6])  # blank: no page of its own
    third = deck.slides.add_slide(deck.slide_layouts[5])
    third.shapes.title.text = "价格表"
    table = third.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (row, col), value in {
        (0, 0): "药品",
        (0, 1): "价格",
        (1, 0): "布洛芬",
        (1, 1): "12元",
    }.items():
        table.cell(row, col).text = value
    deck.save(str(path))
    return path


def test_pptx_slides_are_pages_titles_are_sections_notes_and_tables_kept(tmp_path: Path) -> None:
    doc = _load(_deck(tmp_path / "deck.pptx"))[0]
    assert doc.title == "Dosage"
    assert _page_of(doc, "Children take one.") == "1"
    assert _section_of(doc, "Children take one.") == "Dosage"
    assert _page_of(doc, "eight tablets") == "1"
    assert "Notes: Stress the 24-hour maximum" in doc.text
    assert "布洛芬 | 12元" in doc.text
    assert _page_of(doc, "布洛芬") == "3"
    assert _section_of(doc, "布洛芬") == "价格表"


def test_pptx_refusals(tmp_path: Path) -> None:
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])
    deck.save(str(tmp_path / "empty.pptx"))
    assert "no text" in _error(tmp_path / "empty.pptx")
    assert "QA_MAX_UNZIPPED_BYTES" in _error(_deck(tmp_path / "big.pptx"), TINY_UNZIP)
    assert "QA_MAX_ZIP_RATIO" in _error(_bomb(tmp_path / "bomb.pptx", "ppt/slides/slide1.xml"))


# --- XLSX and CSV ------------------------------------------------------------------------------


def _workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Formulary"
    sheet.append(["Drug", "Dose", "Approved"])
    sheet.append(["Ibuprofen", 200.0, datetime.datetime(2020, 1, 2)])
    sheet.append(["Paracetamol", 500, None])
    chinese = book.create_sheet("库存")
    chinese.append(["药品", "数量"])
    chinese.append(["阿莫西林", 40])
    numbers = book.create_sheet("Raw")
    numbers.append([1, 2])
    book.save(str(path))
    return path


def test_xlsx_rows_carry_their_headers_one_section_a_sheet(tmp_path: Path) -> None:
    doc = _load(_workbook(tmp_path / "drugs.xlsx"))[0]
    assert "Drug: Ibuprofen; Dose: 200; Approved: 2020-01-02" in doc.text.splitlines()
    assert "Drug: Paracetamol; Dose: 500" in doc.text.splitlines()
    assert _section_of(doc, "Ibuprofen") == "Formulary"
    assert _section_of(doc, "阿莫西林") == "库存"
    assert "药品: 阿莫西林; 数量: 40" in doc.text
    # A first row of numbers is data: its columns are named as the sheet names them.
    assert "A: 1; B: 2" in doc.text


def test_xlsx_refusals(tmp_path: Path) -> None:
    empty = openpyxl.Workbook()
    empty.save(str(tmp_path / "empty.xlsx"))
    assert "no text" in _error(tmp_path / "empty.xlsx")
    tall = openpyxl.Workbook()
    assert tall.active is not None
    tall.active["A1"] = "x"
    tall.active["A200000"] = "y"  # the rows between are yielded, and counted, as empty rows
    tall.save(str(tmp_path / "tall.xlsx"))
    few_cells = dataclasses.replace(LIMITS, sheet_cells=10_000)
    assert "QA_MAX_SHEET_CELLS" in _error(tmp_path / "tall.xlsx", few_cells)
    assert "QA_MAX_ZIP_RATIO" in _error(_bomb(tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml"))


def test_csv_sniffs_delimiter_and_reads_gbk(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    path.write_bytes("名称;价格;产地\n龙井茶;30;杭州\n咖啡;25;云南\n".encode("gbk"))
    doc = _load(path)[0]
    assert doc.text.splitlines() == [
        "名称 | 价格 | 产地",
        "名称: 龙井茶; 价格: 30; 产地: 杭州",
        "名称: 咖啡; 价格: 25; 产地: 云南",
    ]
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffCity,Population\nOslo,709000\n".encode())
    assert "City: Oslo; Population: 709000" in _load(bom)[0].text
    tabs = tmp_path / "tabs.csv"
    tabs.write_text('Name\tNote\n"Ada"\t"first, of all"\n')
    assert "Name: Ada; Note: first, of all" in _load(tabs)[0].text


def test_csv_refusals(tmp_path: Path) -> None:
    blank = tmp_path / "blank.csv"
    blank.write_text(",,\n,,\n")
    assert "no text" in _error(blank)
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n" + "1,2\n" * 6000)
    assert "QA_MAX_SHEET_CELLS" in _error(rows, dataclasses.replace(LIMITS, sheet_cells=10_000))
    # csv.Sniffer took 18 s on a 64 kB sample of this; the delimiter is chosen without it.
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(',"' * 50_000)
    with time_cap(2):
        _load(quotes)


# --- EPUB --------------------------------------------------------------------------------------


def _book(path: Path, chapters: list[tuple[str, str]]) -> Path:
    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title("用药手册")
    book.set_language("zh")
    items = []
    for number, (title, body) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=title, file_name=f"c{number}.xhtml", lang="zh")
        item.content = body
        book.add_item(item)
        items.append(item)
    book.toc = [epub.Link(item.file_name, item.title, f"c{n}") for n, item in enumerate(items)]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def test_epub_chapters_in_spine_order_titled_from_the_toc(tmp_path: Path) -> None:
    path = _book(
        tmp_path / "book.epub",
        [
            (
                "第一章 总则",
                "<h1>第一章 总则</h1><p>本手册适用于医院药房。</p>"
                "<h2>适用范围</h2><p>门诊和住院。</p>",
            ),
            (
                "Dosage",
                "<h1>How much to take</h1><p>Adults take two tablets.</p><script>x()</script>",
            ),
        ],
    )
    doc = _load(path)[0]
    assert doc.title == "用药手册"
    assert doc.text.index("本手册") < doc.text.index("Adults take two tablets.")
    assert _section_of(doc, "本手册") == "第一章 总则"
    assert _section_of(doc, "门诊和住院") == "第一章 总则 > 适用范围"
    assert _section_of(doc, "Adults take") == "Dosage > How much to take"
    assert "x()" not in doc.text


def test_epub_refusals(tmp_path: Path) -> None:
    empty = _book(tmp_path / "empty.epub", [("Blank", "<p> </p>")])
    assert "no text" in _error(empty)
    assert "QA_MAX_UNZIPPED_BYTES" in _error(
        _book(tmp_path / "big.epub", [("A", "<p>a</p>")]), TINY_UNZIP
    )
    assert "QA_MAX_ZIP_RATIO" in _error(_bomb(tmp_path / "bomb.epub", "OEBPS/c1.xhtml"))
    # ebooklib itself cuts deep markup on writing: the chapter is swapped in afterwards.
    written = _book(tmp_path / "written.epub", [("Deep", "<p>shallow</p>")])
    deep = tmp_path / "deep.epub"
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(deep, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "EPUB/c1.xhtml":
                data = (
                    b"<html><body>" + b"<div>" * 400 + b"deep" + b"</div>" * 400 + b"</body></html>"
                )
            target.writestr(name, data)
    assert "QA_MAX_HTML_DEPTH" in _error(deep)


# --- ODT ---------------------------------------------------------------------------------------


def _odt(path: Path, blocks: list[tuple[int, str]]) -> Path:
    """Blocks of (outline level, text); level 0 is a paragraph, -1 a one-row table."""
    document = OpenDocumentText()
    for level, line in blocks:
        if level > 0:
            document.text.addElement(H(outlinelevel=level, text=line))
        elif level == 0:
            document.text.addElement(P(text=line))
        else:
            table = Table()
            table.addElement(TableColumn(numbercolumnsrepeated=2))
            row = TableRow()
            for value in line.split("|"):
                cell = TableCell()
                cell.addElement(P(text=value))
                row.addElement(cell)
            table.addElement(row)
            document.text.addElement(table)
    document.save(str(path))
    return path


def test_odt_headings_are_sections_and_legal_divisions_nest(tmp_path: Path) -> None:
    path = _odt(
        tmp_path / "contract.odt",
        [
            (1, "租赁合同"),
            (0, "第一条 租金每月五千元。"),
            (2, "Delivery"),
            (0, "Goods arrive in 5 days."),
            (-1, "Item|Price"),
        ],
    )
    doc = _load(path)[0]
    assert doc.title == "租赁合同"
    assert _section_of(doc, "租金每月") == "租赁合同 > 第一条"
    assert _section_of(doc, "Goods arrive") == "租赁合同 > Delivery"
    assert "Item | Price" in doc.text


def test_odt_refusals(tmp_path: Path) -> None:
    assert "no text" in _error(_odt(tmp_path / "empty.odt", [(0, " ")]))
    assert "QA_MAX_UNZIPPED_BYTES" in _error(_odt(tmp_path / "big.odt", [(0, "a")]), TINY_UNZIP)
    assert "QA_MAX_ZIP_RATIO" in _error(_bomb(tmp_path / "bomb.odt", "content.xml"))


# --- RTF ---------------------------------------------------------------------------------------


def _hex(text: str, encoding: str) -> str:
    return "".join(f"\\'{byte:02x}" for byte in text.encode(encoding))


def test_rtf_decodes_code_page_bytes_and_unicode_escapes(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.rtf"
    gbk.write_text(
        "{\\rtf1\\ansi\\ansicpg936\\deff0{\\fonttbl{\\f0\\fnil\\fcharset134 "
        + _hex("宋体", "gbk")
        + ";}{\\f1\\fswiss\\fcharset0 Arial;}}\\f0 "
        + _hex("第一条 本规定适用于全市。", "gbk")
        + "\\par\n\\f1 Hello {\\b bold} world.\\par}",
        encoding="latin-1",
    )
    doc = _load(gbk)[0]
    assert doc.text == "第一条 本规定适用于全市。\nHello bold world."
    assert _section_of(doc, "本规定") == "第一条"
    # A font of the document's own character set: its bytes are in the \ansicpg code page.
    ansi_font = tmp_path / "ansi.rtf"
    ansi_font.write_text(
        "{\\rtf1\\ansi\\ansicpg936{\\fonttbl{\\f0\\fcharset0 Times;}}\\f0 "
        + _hex("借阅规定", "gbk")
        + "}",
        encoding="latin-1",
    )
    assert _load(ansi_font)[0].text == "借阅规定"
    unicode = tmp_path / "unicode.rtf"
    unicode.write_text(
        "{\\rtf1\\ansi\\uc1{\\fonttbl{\\f0 Calibri;}}\\u20511?\\u38405? rules\\par "
        '{\\field{\\*\\fldinst{HYPERLINK "https://example.org"}}{\\fldrslt{the link}}}\\par}',
        encoding="latin-1",
    )
    assert _load(unicode)[0].text == "借阅 rules\nthe link"


def test_rtf_refusals_and_hostile_markup(tmp_path: Path) -> None:
    empty = tmp_path / "empty.rtf"
    empty.write_text("{\\rtf1{\\fonttbl{\\f0 Arial;}}}")
    assert "no text" in _error(empty)
    other = tmp_path / "other.rtf"
    other.write_text("plain words")
    assert "not an RTF file" in _error(other)
    # striprtf's font-table pattern is cubic and its hyperlink pattern quadratic on these
    # (5.5 s at 1.4 kB and 26 s at 460 kB): read within a second at 1 MB.
    fonts = tmp_path / "fonts.rtf"
    fonts.write_text("{\\rtf1{\\fonttbl" + "\\f1\\fcharset0 " * 80_000 + "}text}")
    fields = tmp_path / "fields.rtf"
    fields.write_text("{\\rtf1 " + "{\\FIELD{\\*\\fldinst{HYPERLINK " * 35_000 + "}words}")
    with time_cap(5):
        assert _load(fonts)[0].text == "text"
        assert "no text" in _error(fields)


# --- Mail --------------------------------------------------------------------------------------


def _mail(subject: str = "会议通知", body: str = "明天上午九点在三楼开会。") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "张三 <zhang@example.com>"
    message["To"] = "li@example.com"
    message["Date"] = "Mon, 3 Jun 2024 10:00:00 +0800"
    message["Subject"] = subject
    message.set_content(body)
    return message


def test_eml_headers_body_and_attachments_as_their_own_documents(tmp_path: Path) -> None:
    message = _mail()
    message.add_attachment(
        b"Refunds take 14 days.\n", maintype="text", subtype="plain", filename="../../policy.txt"
    )
    message.add_attachment(
        b"\x00\x01", maintype="application", subtype="octet-stream", filename="blob.bin"
    )
    inner = _mail("Fwd: budget", "The budget is 3 million.")
    inner.add_attachment(b"Inner note.\n", maintype="text", subtype="plain", filename="policy.txt")
    message.add_attachment(inner, filename="forwarded.eml")
    path = tmp_path / "notice.eml"
    path.write_bytes(message.as_bytes())
    docs = {doc.id: doc for doc in _load(path, "mail/notice.eml")}
    assert set(docs) == {
        "mail/notice.eml",
        "mail/notice.eml/policy.txt",
        "mail/notice.eml/forwarded.eml",
        "mail/notice.eml/forwarded.eml/policy.txt",
    }
    mail = docs["mail/notice.eml"]
    assert mail.title == "会议通知"
    assert mail.metadata["from"] == "张三 <zhang@example.com>"
    assert mail.metadata["date"] == "Mon, 03 Jun 2024 10:00:00 +0800"
    assert "明天上午九点在三楼开会。" in mail.text and "Subject: 会议通知" in mail.text
    attachment = docs["mail/notice.eml/policy.txt"]
    assert attachment.text == "Refunds take 14 days.\n"
    assert (
        attachment.source == str(path) and attachment.metadata["attached_to"] == "mail/notice.eml"
    )
    assert "3 million" in docs["mail/notice.eml/forwarded.eml"].text


def test_eml_html_body_and_limits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    message = EmailMessage()
    message["Subject"] = "Moved"
    message.set_content(
        "<html><body><h1>Room</h1><p>The meeting moved to room 5.</p>"
        "<script>x()</script></body></html>",
        subtype="html",
    )
    for number in range(3):
        message.add_attachment(
            f"Note {number}.\n".encode(),
            maintype="text",
            subtype="plain",
            filename=f"n{number}.txt",
        )
    path = tmp_path / "moved.eml"
    path.write_bytes(message.as_bytes())
    docs = _load(path, limits=dataclasses.replace(LIMITS, attachments=2))
    assert docs[0].text == "Subject: Moved\n\nRoom\nThe meeting moved to room 5."
    assert [doc.id for doc in docs[1:]] == ["doc/n0.txt", "doc/n1.txt"]
    assert "QA_MAX_ATTACHMENTS" in caplog.text
    nested = _mail("outer")
    nested.add_attachment(_mail("inner"), filename="inner.eml")
    nested_path = tmp_path / "nested.eml"
    nested_path.write_bytes(nested.as_bytes())
    with caplog.at_level(logging.WARNING):
        shallow = _load(nested_path, limits=dataclasses.replace(LIMITS, mail_depth=0))
    assert [doc.id for doc in shallow] == ["doc"]
    assert "QA_MAX_MAIL_DEPTH" in caplog.text


def test_mbox_one_document_a_message(tmp_path: Path) -> None:
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(str(path))
    box.add(_mail("First", "The bond is four weeks."))
    box.add(_mail("第二封", "押金为两个月租金。"))
    box.flush()
    box.close()
    docs = _load(path, "archive.mbox")
    assert [(doc.id, doc.title) for doc in docs] == [
        ("archive.mbox/1", "First"),
        ("archive.mbox/2", "第二封"),
    ]
    assert "押金为两个月租金。" in docs[1].text


def test_mail_refusals(tmp_path: Path) -> None:
    empty_box = tmp_path / "empty.mbox"
    empty_box.write_text("\n")
    assert "no messages" in _error(empty_box)
    blank = tmp_path / "blank.eml"
    blank.write_text("\n\n")
    assert "no headers and no text" in _error(blank)


# --- A folder of every format ------------------------------------------------------------------


def test_a_folder_of_every_format_is_ingested_and_searchable(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    _deck(folder / "deck.pptx")
    _workbook(folder / "drugs.xlsx")
    (folder / "stock.csv").write_text("Item,Shelf\nSaffron,Q17\n")
    _book(folder / "book.epub", [("Ch", "<p>The lighthouse keeper logs each ship.</p>")])
    _odt(folder / "contract.odt", [(1, "Lease"), (0, "The tenant repaints the veranda yearly.")])
    (folder / "memo.rtf").write_text("{\\rtf1 The archive opens at dawn.\\par}")
    (folder / "notice.eml").write_bytes(
        _mail("Parking", "Visitors park behind the gymnasium.").as_bytes()
    )
    box = mailbox.mbox(str(folder / "old.mbox"))
    box.add(_mail("Keys", "Spare keys hang in the boiler room."))
    box.flush()
    box.close()
    store = FaissStore(tmp_path / "idx")
    ingestor = Ingestor(store, HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=MAX_BYTES)
    report = ingestor.run([folder], "c", progress=False)
    assert not report.errors and not report.skipped
    reader = store.open("c")
    expected = {
        "eight tablets maximum": "deck.pptx",
        "Paracetamol dose": "drugs.xlsx",
        "Saffron shelf": "stock.csv",
        "lighthouse keeper": "book.epub",
        "veranda repaint": "contract.odt",
        "archive dawn": "memo.rtf",
        "visitors park gymnasium": "notice.eml",
        "spare keys boiler": "old.mbox/1",
    }
    for query, document in expected.items():
        hits = reader.search(SearchRequest(query, "c", k=1, mode="sparse"), None)
        assert hits and hits[0].chunk.document_id == document, query
