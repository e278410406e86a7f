"""HTML: the main content only, without navigation, scripts or page furniture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction, Tag

from qa.ingest.document import Document, heading_sections
from qa.ingest.loaders.text import decode_text, require_text

_DROP = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template")
_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "tr", "table", "ul", "ol", "dl", "dt", "dd",
    "thead", "tbody", "tfoot",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "br", "caption",
}  # fmt: skip


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


def load(path: Path, document_id: str) -> Iterator[Document]:
    markup = decode_text(path.read_bytes(), document_id)
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
    text = require_text("\n".join(lines), document_id)
    if not title:
        title = next((h for _, _, h in headings), path.stem)
    yield Document(
        id=document_id,
        text=text,
        title=title,
        sections=heading_sections(headings, len(text)),
        source=str(path),
    )
