"""JSON Lines: one record a line, {"id", "text", "title"?, "metadata"?}."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from qa.errors import LoaderError
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import decode_text
from qa.records import Document

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
    return Document(id=doc_id, text=text, title=title, metadata=metadata)


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
