"""JSON Lines: one record a line, {"id", "text", "title"?, "metadata"?}.

A record of a statute or contract may say where it sits: "part", "chapter", "section",
"article" or "clause" fields (top level or in "metadata"), a number or a label. They
become the record's section path ("Chapter 2 > Article 5", "第二章 > 第五条"), and
divisions written in the text itself ("Article 5.", "第五条") nest below it, as in a
plain text file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from qa.errors import LoaderError
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import decode_text
from qa.ingest.structure import sections
from qa.records import Document, Span
from qa.text import has_cjk

# Outermost first, with the word each is numbered with in English and in Chinese.
_DIVISIONS = {
    "part": ("Part", "编"),
    "chapter": ("Chapter", "章"),
    "section": ("Section", "节"),
    "article": ("Article", "条"),
    "clause": ("Clause", "款"),
}

log = logging.getLogger(__name__)


def parse_record(line: str, where: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LoaderError(f"{where}: not valid JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise LoaderError(f"{where}: JSON nested too deeply") from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise LoaderError(f"{where}: unreadable JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise LoaderError(f"{where}: a record must be a JSON object")
    doc_id, text = record.get("id"), record.get("text")
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise LoaderError(f"{where}: 'id' must be a non-empty string")
    if not isinstance(text, str) or not text.strip():
        raise LoaderError(f"{where}: 'text' must be a non-empty string")
    title = record.get("title", "")
    metadata = record.get("metadata", {})
    if not isinstance(title, str):
        raise LoaderError(f"{where}: 'title' must be a string")
    if not isinstance(metadata, dict):
        raise LoaderError(f"{where}: 'metadata' must be an object")
    headings = _division_headings(record, metadata, text)
    for field, value in record.items():
        if field in _DIVISIONS:
            metadata.setdefault(field, value)
    return Document(
        id=doc_id,
        text=text,
        title=title,
        metadata=metadata,
        sections=_sections(text, headings),
    )


def _sections(text: str, headings: list[tuple[int, int, str]]) -> list[Span]:
    """Sections of the text under the record's own divisions. Those are put on a line
    of their own before the text: on its first line they would stand for a division
    written there ("第五条 ..." under "chapter": "第二章"), which would not be read."""
    if not headings:
        return sections(text)
    spans = sections("\n" + text, headings)
    shifted = [Span(max(s.start - 1, 0), s.end - 1, s.label) for s in spans]
    return [s for s in shifted if s.end > s.start]


def _division_headings(
    record: dict[str, object], metadata: dict[str, object], text: str
) -> list[tuple[int, int, str]]:
    """The record's own division fields as headings over the whole text, outermost
    first: a bare number is written with its word ("Article 5", "第5条")."""
    chinese = has_cjk(text)
    headings: list[tuple[int, int, str]] = []
    for level, (field, (english, kind)) in enumerate(_DIVISIONS.items(), start=1):
        value = record.get(field, metadata.get(field))
        if isinstance(value, bool) or not isinstance(value, str | int):
            continue
        label = " ".join(str(value).split())
        if not label:
            continue
        if label.isdigit():
            label = f"第{label}{kind}" if chinese else f"{english} {label}"
        headings.append((0, level, label))
    return headings


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    """Good records are kept; each bad one is logged with its line number and skipped."""
    text = decode_text(path.read_bytes(), document_id)
    seen: set[str] = set()
    good = bad = 0
    # Split on newlines only: U+2028 and friends are legal raw inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{document_id}:{number}"
        try:
            document = parse_record(line, where)
        except LoaderError as exc:
            log.warning("skipped %s", exc.detail)
            bad += 1
            continue
        if document.id in seen:
            log.warning("skipped %s: duplicate id %r", where, document.id)
            bad += 1
            continue
        seen.add(document.id)
        document.source = str(path)
        good += 1
        yield document
    if not good:
        raise LoaderError(f"{document_id}: no valid records ({bad} bad)")
