"""Hostile inputs for the office, e-book and mail loaders (#17), in the shape of
tests/ingest/hostile.py: each strategy makes the bytes of one file, valid files with
hostile text in them, the same files cut short or with bytes changed, zips that declare
huge members, and text formats built to be deep, wide or endless."""

from __future__ import annotations

import io

import openpyxl
import pptx
from ebooklib import epub
from hypothesis import strategies as st
from odf.opendocument import OpenDocumentText
from odf.text import P

from tests.ingest.hostile import _bomb, _declared, _mutate, _xml_text, counts, texts


def _edits() -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8)


def _zip_hostility(made: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A valid file, the same with bytes changed or cut, declaring huge members, a bomb."""
    return st.one_of(
        made,
        st.builds(_mutate, made, _edits(), st.integers(0, 400)),
        st.builds(_declared, made, st.integers(0, 2**32)),
        st.builds(_bomb, st.integers(1, 2)),
    )


def _pptx(titles: list[str], bodies: list[str]) -> bytes:
    deck = pptx.Presentation()
    for title, body in zip(titles, bodies, strict=False):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = _xml_text(title)
        slide.placeholders[1].text = _xml_text(body)
        slide.notes_slide.notes_text_frame.text = _xml_text(body[:200])
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def pptx_files() -> st.SearchStrategy[bytes]:
    lines = st.lists(texts(2_000), min_size=1, max_size=3)
    return _zip_hostility(st.builds(_pptx, lines, lines))


def _xlsx(rows: int, columns: int, text: str) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    cell = _xml_text(text)[:1_000]
    for row in range(1, rows + 1):
        for column in range(1, columns + 1):
            sheet.cell(row=row, column=column, value=cell if (row + column) % 3 else row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_files() -> st.SearchStrategy[bytes]:
    made = st.builds(_xlsx, st.integers(1, 60), st.integers(1, 30), texts(1_000))
    return _zip_hostility(made)


def _epub(chapters: list[str]) -> bytes:
    book = epub.EpubBook()
    book.set_identifier("hostile")
    book.set_title("Hostile")
    items = []
    for n, text in enumerate(chapters):
        item = epub.EpubHtml(title=f"c{n}", file_name=f"c{n}.xhtml")
        item.content = f"<html><body><p>{_xml_text(text).replace('<', '&lt;')}</p></body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.spine = items
    book.add_item(epub.EpubNcx())
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()


def epub_files() -> st.SearchStrategy[bytes]:
    return _zip_hostility(st.builds(_epub, st.lists(texts(2_000), min_size=1, max_size=3)))


def _odt(paragraphs: list[str]) -> bytes:
    document = OpenDocumentText()
    for text in paragraphs:
        document.text.addElement(P(text=_xml_text(text)))
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def odt_files() -> st.SearchStrategy[bytes]:
    return _zip_hostility(st.builds(_odt, st.lists(texts(2_000), min_size=1, max_size=4)))


def _csv(cells: list[str], width: int, rows: int, tail: str) -> bytes:
    row = ",".join(cells[i % len(cells)] for i in range(width))
    return ("\n".join([row] * rows) + tail).encode("utf-8", "surrogatepass")


def csv_files() -> st.SearchStrategy[bytes]:
    cell = st.sampled_from(['"', '""', "x", "", "a,b", "\t", ";", "第一条", '"open', "\r"])
    return st.one_of(
        st.builds(_csv, st.lists(cell, min_size=1, max_size=6), counts(2_000), counts(2_000),
                  st.sampled_from(["", '"', "\n" * 3_000, ","])),
        st.builds(lambda t: t.encode("utf-8", "surrogatepass"), texts(20_000)),
        st.binary(max_size=4_000),
    )  # fmt: skip


def _rtf(depth: int, words: int, body: str, escape: str) -> bytes:
    return (
        "{\\rtf1\\ansi\\ansicpg936 "
        + "{" * depth
        + (escape * words)
        + body.replace("\\", "\\\\")
        + "}" * (depth // 2)
    ).encode("latin-1", "replace")


def rtf_files() -> st.SearchStrategy[bytes]:
    escape = st.sampled_from(["\\par ", "\\u20320?", "\\'b0", "\\bin999999999 ", "\\*\\x ",
                              "\\uc9 ", "{\\fonttbl ", "\\pict ", "\\", "\\u-1?"])  # fmt: skip
    return st.one_of(
        st.builds(_rtf, counts(5_000), counts(5_000), texts(5_000), escape),
        st.binary(max_size=4_000),
    )


def _mail(depth: int, parts: int, boundary: str, body: str) -> bytes:
    """A message nesting messages `depth` deep, the innermost holding `parts` parts."""
    inner = f"Subject: inner\nContent-Type: text/plain\n\n{body}\n"
    for _ in range(depth):
        inner = f"Subject: fwd\nContent-Type: message/rfc822\n\n{inner}"
    parts_text = "".join(
        f"--{boundary}\nContent-Type: text/plain\nContent-Disposition: attachment; "
        f'filename="a{n}.txt"\n\n{body[:50]}\n'
        for n in range(parts)
    )
    top = (
        f'From: a@b\nSubject: s\nContent-Type: multipart/mixed; boundary="{boundary}"\n\n'
        f"{parts_text}--{boundary}\nContent-Type: message/rfc822\n\n{inner}--{boundary}--\n"
    )
    return top.encode("utf-8", "surrogatepass")


def mail_files() -> st.SearchStrategy[bytes]:
    boundary = st.sampled_from(["b", "", "--", "x" * 70, "é"])
    return st.one_of(
        st.builds(_mail, counts(300), counts(500), boundary, texts(3_000)),
        st.builds(lambda t: t.encode("utf-8", "surrogatepass"), texts(20_000)),
        st.binary(max_size=4_000),
    )


def mbox_files() -> st.SearchStrategy[bytes]:
    one = st.builds(_mail, st.integers(0, 5), st.integers(0, 5), st.just("b"), texts(2_000))
    return st.one_of(
        st.builds(lambda m, n: (b"From x@y Mon Jan  1 00:00:00 2024\n" + m + b"\n") * n,
                  one, counts(300)),
        st.builds(lambda t: ("From \n" + t).encode("utf-8", "surrogatepass"), texts(20_000)),
    )  # fmt: skip


NEW_FORMATS = {
    "pptx": pptx_files,
    "xlsx": xlsx_files,
    "epub": epub_files,
    "odt": odt_files,
    "csv": csv_files,
    "rtf": rtf_files,
    "eml": mail_files,
    "mbox": mbox_files,
}
