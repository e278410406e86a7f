"""PDF: the text layer page by page, keeping page numbers for citations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from qa.errors import LoaderError
from qa.ingest.document import Document, Span


def load(path: Path, document_id: str) -> Iterator[Document]:
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise LoaderError(f"{document_id}: PDF is encrypted")
        page_texts = [(page.extract_text() or "").strip() for page in reader.pages]
    except PdfReadError as exc:
        raise LoaderError(f"{document_id}: not a readable PDF ({exc})") from exc
    if not page_texts:
        raise LoaderError(f"{document_id}: PDF has no pages")
    if not any(page_texts):
        raise LoaderError(f"{document_id}: PDF has no text layer (scanned images?); OCR it first")
    parts: list[str] = []
    pages: list[Span] = []
    offset = 0
    for number, page_text in enumerate(page_texts, start=1):
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(page_text)
        pages.append(Span(offset, offset + len(page_text), str(number)))
        offset += len(page_text)
    text = "".join(parts)
    meta_title = reader.metadata.title if reader.metadata else None
    first_page = next(t for t in page_texts if t)
    title = (meta_title or "").strip() or first_page.splitlines()[0].strip()[:200]
    yield Document(id=document_id, text=text, title=title, pages=pages, source=str(path))
