"""Plain text, UTF-8 first, then GB18030 for Chinese files saved by older tools; legal
divisions (parts, sections, articles, 第X条) become sections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from qa.errors import LoaderError
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.structure import sections
from qa.records import Document


def decode_text(raw: bytes, document_id: str) -> str:
    """Text of a file, refusing binary content instead of indexing garbage."""
    if b"\x00" in raw[:8192]:
        raise LoaderError(f"{document_id}: looks like a binary file, not text")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LoaderError(f"{document_id}: not valid UTF-8 or GB18030 text")
    control = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if control > 0.01 * min(len(text), 8192):
        raise LoaderError(f"{document_id}: looks like a binary file, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def require_text(text: str, document_id: str) -> str:
    if not text.strip():
        raise LoaderError(f"{document_id}: no text in the file")
    return text


def first_line_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()[:200]
    return fallback


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    text = require_text(decode_text(path.read_bytes(), document_id), document_id)
    yield Document(
        id=document_id,
        text=text,
        title=first_line_title(text, path.stem),
        sections=sections(text),
        source=str(path),
    )
