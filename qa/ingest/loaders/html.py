"""HTML: the main content only, without navigation, scripts or page furniture.

trafilatura finds the main content of pages that do not mark it with <main> or
<article> (menus, sidebars and footers in plain <div>s); its XML output keeps
headings (as sections) and table rows. When it finds nothing or fails, the
built-in extractor takes the <main>, <article> or <body> element less the page
furniture tags.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import trafilatura
from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction, Tag
from lxml import etree
from trafilatura.settings import use_config

from qa.errors import LoaderError
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import decode_text, require_text
from qa.ingest.structure import sections
from qa.records import Document

log = logging.getLogger(__name__)

# trafilatura swaps an extraction shorter than MIN_EXTRACTED_SIZE (250 characters) for
# a dump of the whole page, navigation included; a short page is still a page.
_CONFIG = use_config()
_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "0")
_XML_BLOCKS = {"p", "item", "list", "table", "quote", "code", "lb", "div", "main", "cell"}

_DROP = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template")
_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "tr", "table", "ul", "ol", "dl", "dt", "dd",
    "thead", "tbody", "tfoot",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "br", "caption",
}  # fmt: skip


class _DepthGauge:
    """An lxml parser target that only counts open elements, to refuse a page nested
    deeper than the limit before any extractor builds and walks its tree; it builds
    nothing and stops at the first element too deep."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > self.limit:
            raise _TooDeepError

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        pass


class _TooDeepError(Exception):
    pass


def _check_depth(markup: str, document_id: str, limit: int) -> None:
    """Refuse HTML nesting elements deeper than the limit, as lxml (and so BeautifulSoup)
    would nest them."""
    parser = etree.HTMLParser(target=_DepthGauge(limit), recover=True)
    try:
        parser.feed(markup)
        parser.close()
    except _TooDeepError:
        raise LoaderError(
            f"{document_id}: HTML nests elements more than {limit} deep "
            "(the limit, QA_MAX_HTML_DEPTH)"
        ) from None
    except etree.LxmlError:
        pass  # malformed beyond recovery: the extractors say so


def _collect(node: Tag, lines: list[str], headings: list[tuple[int, int, str]]) -> None:
    """Walk the tree writing one line per block, remembering where headings start."""
    buffer: list[str] = []

    def flush() -> None:
        line = " ".join("".join(buffer).split())
        buffer.clear()
        if line:
            lines.append(line)

    for child in node.children:
        if isinstance(child, Tag):
            name = child.name.lower()
            if name == "tr":
                flush()
                cells = [c.get_text(" ", strip=True) for c in child.find_all(["td", "th"])]
                row = " | ".join(" ".join(c.split()) for c in cells)
                if row.strip(" |"):
                    lines.append(row)
            elif name in _BLOCKS:
                flush()
                if name[0] == "h" and name[1:].isdigit():
                    heading = " ".join(child.get_text(" ", strip=True).split())
                    if heading:
                        offset = sum(len(line) + 1 for line in lines)
                        headings.append((offset, int(name[1:]), heading))
                        lines.append(heading)
                    continue
                _collect(child, lines, headings)
            else:
                buffer.append(child.get_text(" "))
        elif not isinstance(child, Comment | Declaration | Doctype | ProcessingInstruction):
            buffer.append(str(child))
    flush()


def _builtin(markup: str) -> tuple[str, list[str], list[tuple[int, int, str]]]:
    """(page title, lines, headings) of the <main>, <article> or <body> element."""
    soup = BeautifulSoup(markup, "lxml")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    if isinstance(root, Tag):
        _collect(root, lines, headings)
    return title, lines, headings


def _walk_xml(node: etree._Element, lines: list[str], headings: list[tuple[int, int, str]]) -> None:
    """trafilatura's XML to one line per block, as _collect does for HTML."""
    buffer: list[str] = [node.text or ""]

    def flush() -> None:
        line = " ".join("".join(buffer).split())
        buffer.clear()
        if line:
            lines.append(line)

    for child in node:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == "head":
            flush()
            heading = " ".join("".join(child.itertext()).split())
            if heading:
                rend = child.get("rend", "")
                level = int(rend[1:]) if rend[:1] == "h" and rend[1:].isdigit() else 6
                headings.append((sum(len(line) + 1 for line in lines), level, heading))
                lines.append(heading)
        elif tag == "row":
            flush()
            cells = [" ".join("".join(c.itertext()).split()) for c in child.iter("cell")]
            if any(cells):
                lines.append(" | ".join(cells))
        elif tag in _XML_BLOCKS:
            flush()
            _walk_xml(child, lines, headings)
        elif tag:
            buffer.append("".join(child.itertext()))
        buffer.append(child.tail or "")
    flush()


def _trafilatura(markup: str) -> tuple[str, list[str], list[tuple[int, int, str]]]:
    """(page title, lines, headings) of the main content; no lines when none was found."""
    tree = trafilatura.load_html(markup)
    if tree is None:
        return "", [], []
    title = " ".join((tree.findtext(".//title") or "").split())
    extracted = trafilatura.extract(
        tree,
        output_format="xml",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        include_formatting=False,
        config=_CONFIG,
    )
    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    if extracted:
        main = etree.fromstring(extracted.encode("utf-8")).find("main")
        if main is not None:
            _walk_xml(main, lines, headings)
    return title, lines, headings


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    markup = decode_text(path.read_bytes(), document_id)
    _check_depth(markup, document_id, limits.html_depth)
    title = ""
    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    try:
        title, lines, headings = _trafilatura(markup)
    except Exception as exc:  # any failure in a third-party extractor leaves the built-in one
        log.warning("%s: trafilatura failed (%s); using the built-in extractor", document_id, exc)
    if not lines:
        builtin_title, lines, headings = _builtin(markup)
        title = title or builtin_title
    text = require_text("\n".join(lines), document_id)
    if not title:
        title = next((h for _, _, h in headings), path.stem)
    yield Document(
        id=document_id,
        text=text,
        title=title,
        sections=sections(text, headings),
        source=str(path),
    )
