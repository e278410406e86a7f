"""EPUB: the chapters in reading (spine) order, each a section titled as the book's
table of contents names it (else by its first heading), headings inside it nested
below; the XHTML is read as the HTML loader reads a page's main content.

An EPUB is a zip that ebooklib inflates whole, so it is checked from its directory
first; each chapter's nesting is checked against QA_MAX_HTML_DEPTH before it is parsed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from pathlib import Path

import ebooklib
from ebooklib import epub

from qa.ingest.loaders.archive import check_zip
from qa.ingest.loaders.html_body import body_lines
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import require_text
from qa.ingest.structure import sections
from qa.records import Document


def _toc_titles(entries: Sequence[object], titles: dict[str, str]) -> None:
    """Chapter file -> its first title in the (nested) table of contents."""
    for entry in entries:
        if isinstance(entry, tuple) and len(entry) == 2:
            _toc_titles([entry[0]], titles)
            _toc_titles(entry[1], titles)
        elif isinstance(entry, epub.Link | epub.Section):
            href = (entry.href or "").split("#", 1)[0]
            title = " ".join((entry.title or "").split())
            if href and title:
                titles.setdefault(posixpath.normpath(href), title)


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    check_zip(path, document_id, limits, "EPUB")
    book = epub.read_epub(str(path), options={"ignore_ncx": False})
    titles: dict[str, str] = {}
    _toc_titles(book.toc, titles)
    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    offset = 0
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        if isinstance(item, epub.EpubNav):
            continue
        # The chapter as stored: ebooklib's get_content rebuilds it through lxml, which
        # silently drops what is nested past its own depth limit.
        raw = item.content if isinstance(item.content, bytes) else item.get_content()
        markup = raw.decode("utf-8", errors="replace")
        chapter_lines, inner = body_lines(markup, document_id, limits)
        if not chapter_lines:
            continue
        name = posixpath.normpath(item.get_name())
        title = titles.get(name) or titles.get(posixpath.basename(name))
        if title is None and inner:
            title = inner[0][2]
        if title is not None:
            headings.append((offset, 0, title))
            # The chapter's own title heading is the chapter section already.
            inner = [h for h in inner if not (h[0] == 0 and h[2] == title)]
        headings += [(offset + at, level, heading) for at, level, heading in inner]
        for line in chapter_lines:
            lines.append(line)
            offset += len(line) + 1
    text = require_text("\n".join(lines), document_id)
    meta_title = book.get_metadata("DC", "title")
    title = " ".join(str(meta_title[0][0]).split()) if meta_title else ""
    yield Document(
        id=document_id,
        text=text,
        title=title or path.stem,
        sections=sections(text, headings),
        source=str(path),
    )
