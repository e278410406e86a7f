"""PDF: the text layer page by page, keeping page numbers for citations; ruled tables as
one "cell | cell" line a row.

PDFium reads the text of every page (fast). Only a page that draws lines or
rectangles can hold a ruled table, and only such a page goes to pdfplumber, which
is some fifty times slower: there each table replaces the word soup of its region,
in reading order with the rest of the page, set off by blank lines so a chunk
prefers to hold it whole. A table that runs on from the foot of one page to the
top of the next gets its header row again, so a passage cut from the second page
still says what its columns are.

A page without a text layer that draws images is a scan, and a page whose text layer
is mostly characters no font maps to text (private-use code points, U+FFFD: a font
without a usable ToUnicode table) reads as garbage: both are rendered and read by OCR
(qa.ingest.ocr) when it is on, their lines' boxes kept in the metadata.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pdfplumber
import pypdfium2
import pypdfium2.raw as pdfium_c
from PIL import Image

from qa.errors import LoaderError
from qa.ingest.loaders import pdf_tables
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.ocr.layout import PageText, assemble, ocr_metadata
from qa.ingest.ocr.options import OcrOptions
from qa.ingest.ocr.pages import PageImage, check_pages, check_pixels, recognise
from qa.ingest.structure import sections
from qa.records import Document

log = logging.getLogger(__name__)

# A page drawing more objects than this is a chart or a map, not a ruled table; pdfplumber
# spends about a third of a millisecond on each object, so its plain text stands.
_TABLE_OBJECTS = 10_000
# A text layer with at least this share of its characters unmapped (private use, not
# assigned, U+FFFD) is garbage; with fewer, the odd symbol font is the page's own.
_GARBLED_SHARE = 0.3


@dataclass
class _Page:
    text: str
    ruled: bool
    """Draws lines or rectangles (and not too many objects), so may hold a ruled table."""
    images: bool
    """Draws images; only looked for on a page without text, where it means a scan."""
    garbled: bool = False
    """Its text layer is mostly unmapped characters (its text is then left empty)."""


def _clean(text: str) -> str:
    """PDFium text as plain lines: it ends lines with CR LF and marks a hyphen it took for
    a line-end break (which may be a real one) with U+0002 and no line break."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", "-\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _garbled(text: str) -> bool:
    chars = [ch for ch in text if not ch.isspace()]
    unmapped = sum(ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cn") for ch in chars)
    return bool(chars) and unmapped >= _GARBLED_SHARE * len(chars)


def _has(page: pypdfium2.PdfPage, kind: int) -> bool:
    return any(True for _ in page.get_objects(filter=[kind]))


def _check_size(pdf: pypdfium2.PdfDocument, document_id: str, limits: LoaderLimits) -> None:
    """Refuse a PDF of absurdly many or absurdly large pages before reading any page."""
    if len(pdf) > limits.pdf_pages:
        raise LoaderError(
            f"{document_id}: PDF has {len(pdf)} pages, over the limit of {limits.pdf_pages} "
            "(QA_MAX_PDF_PAGES)"
        )
    for index in range(len(pdf)):
        width, height = pdf.get_page_size(index)
        if max(width, height) > limits.pdf_page_points:
            raise LoaderError(
                f"{document_id}: page {index + 1} is {width:.0f} x {height:.0f} pt, over the "
                f"limit of {limits.pdf_page_points:.0f} pt a side (QA_MAX_PDF_PAGE_POINTS)"
            )


def _read_pages(path: Path, document_id: str, limits: LoaderLimits) -> tuple[list[_Page], str]:
    """Each page's text and what it draws, and the title from the metadata."""
    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise LoaderError(f"{document_id}: PDF is encrypted") from exc
        raise LoaderError(f"{document_id}: not a readable PDF ({exc})") from exc
    try:
        _check_size(pdf, document_id, limits)
        pages: list[_Page] = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                text = _clean(textpage.get_text_bounded())
                garbled = _garbled(text)
                if garbled:
                    text = ""
                drawing = pdfium_c.FPDFPage_CountObjects(page.raw) > _TABLE_OBJECTS
                pages.append(
                    _Page(
                        text,
                        not drawing and _has(page, pdfium_c.FPDF_PAGEOBJ_PATH),
                        not text and _has(page, pdfium_c.FPDF_PAGEOBJ_IMAGE),
                        garbled,
                    )
                )
            finally:
                textpage.close()
                page.close()
        title = (pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()
    return pages, title


def _with_tables(path: Path, pages: list[_Page], document_id: str) -> list[str]:
    """Page texts, those of pages holding ruled tables redone with the tables as rows."""
    texts = [page.text for page in pages]
    running: tuple[int, pdf_tables.Table] | None = None  # the last table of a page, by page index
    try:
        pdf = pdfplumber.open(str(path))
    except Exception as exc:  # pdfminer fails in many ways on files PDFium reads
        log.warning("%s: tables not read (%s); using the plain text", document_id, exc)
        return texts
    with pdf:
        for index, page in enumerate(pages):
            if not (page.ruled and page.text):
                continue
            plumber_page = pdf.pages[index]
            try:
                layout = pdf_tables.layout(plumber_page)
            except Exception as exc:  # as above, for one page
                log.warning(
                    "%s: page %d: tables not read (%s); using its plain text",
                    document_id,
                    index + 1,
                    exc,
                )
                layout = None
            finally:
                plumber_page.close()
            if layout is None:
                continue
            tables = [b for b in layout.blocks if isinstance(b, pdf_tables.Table)]
            if running is not None and running[0] == index - 1:
                before, after = running[1], tables[0]
                header = before.rows[0]
                # Repeated only where the PDF itself did not repeat it.
                if pdf_tables.continues(before, after, layout.width) and after.rows[0] != header:
                    after.rows.insert(0, header)
            running = (index, tables[-1])
            texts[index] = "\n\n".join(
                "\n".join(" | ".join(row) for row in b.rows)
                if isinstance(b, pdf_tables.Table)
                else b
                for b in layout.blocks
            )
    return texts


def _ocr(path: Path, document_id: str, numbers: list[int], options: OcrOptions) -> list[PageText]:
    """The pages (numbered from 1) rendered at the OCR resolution and read."""
    check_pages(document_id, len(numbers), options)
    scale = options.dpi / 72
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for number in numbers:
            width, height = pdf.get_page_size(number - 1)
            check_pixels(
                document_id, str(number), round(width * scale), round(height * scale), options
            )

        def render(number: int) -> PageImage:
            def image() -> Image.Image:
                page = pdf[number - 1]
                try:
                    return page.render(scale=scale).to_pil()
                finally:
                    page.close()

            return image

        return recognise(document_id, [(str(n), render(n)) for n in numbers], options)
    finally:
        pdf.close()


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    pages, meta_title = _read_pages(path, document_id, limits)
    if not pages:
        raise LoaderError(f"{document_id}: PDF has no pages")
    unread = [n for n, page in enumerate(pages, start=1) if page.images or page.garbled]
    if limits.ocr is None:
        if not any(page.text for page in pages):
            raise LoaderError(
                f"{document_id}: PDF has no text layer (scanned images?) and OCR is off "
                "(QA_OCR_ENGINE)"
            )
        if unread:
            log.warning(
                "%s: page(s) %s have no usable text layer (scanned?) and OCR is off; their "
                "text is missing",
                document_id,
                ", ".join(map(str, unread)),
            )
        unread = []
    if not unread and not any(page.text for page in pages):
        raise LoaderError(f"{document_id}: PDF has no text layer and no images: it holds no text")
    if any(page.ruled and page.text for page in pages):
        page_texts = _with_tables(path, pages, document_id)
    else:
        page_texts = [page.text for page in pages]
    texts = [PageText(str(n), text) for n, text in enumerate(page_texts, start=1)]
    metadata: dict[str, Any] = {}
    if unread and limits.ocr is not None:
        for read in _ocr(path, document_id, unread, limits.ocr):
            texts[int(read.label) - 1] = read
    paged = assemble(texts)
    if not paged.text:
        raise LoaderError(f"{document_id}: PDF holds no text (its scanned pages are blank to OCR)")
    if paged.boxes and limits.ocr is not None:
        metadata["ocr"] = ocr_metadata(limits.ocr, paged)
    title = meta_title or paged.text.splitlines()[0].strip()[:200]
    yield Document(
        id=document_id,
        text=paged.text,
        title=title,
        metadata=metadata,
        pages=paged.pages,
        sections=sections(paged.text),
        source=str(path),
        page_images=paged.previews,
    )
