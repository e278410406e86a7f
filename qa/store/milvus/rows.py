"""Our records as Milvus rows and back: chunk rows with their keys and BM25 tokens,
documents cut into parts under the VARCHAR limit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from qa.models.protocols import Vectors
from qa.page_regions import cut_to, line_boxes
from qa.records import Chunk, Document, StoredChunk
from qa.store.milvus.schema import VARCHAR
from qa.text import lexical_tokens

_PART_CHARS = 16_000  # 4 UTF-8 bytes at most per character: under the VARCHAR limit
JSON_LIMIT = 65_536
"""Bytes Milvus takes in one JSON value: a chunk row's `metadata` must fit."""


def milvus_name(name: str) -> str:
    """A qa collection name as Milvus letters: '.', '-' and '_' become '_' + hex."""
    return "".join(ch if ch.isascii() and ch.isalnum() else f"_{ord(ch):02x}" for ch in name)


def _clip(text: str, limit: int = VARCHAR) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


def lexical_text(text: str) -> str:
    """Our BM25 tokens as Milvus's analyzer will split them again: one word per token.
    A '.' inside a number would be a break for the standard tokenizer: it becomes '_'."""
    return " ".join(t.replace(".", "_") for t in lexical_tokens(text))


def row_id(document_id: str, ordinal: int, content_hash: str) -> int:
    """A chunk's primary key from what it is, not from a counter: replicas writing at
    once need no coordination, and a changed document gets new keys."""
    digest = hashlib.blake2b(
        f"{document_id}\0{ordinal}\0{content_hash}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def chunk_row(doc: Document, content_hash: str, chunk: Chunk, vector: Vectors) -> dict[str, Any]:
    """One chunk with its document's title and metadata, its vector and its BM25 text.
    The document's content hash is passed in: it costs a hash of the whole text. Of an
    OCR'd document's line boxes the row holds the chunk's own (what a hit shows): all of
    them would put a 300-page scan's 1 MB into each of its rows, past Milvus's 64 KB
    limit on a JSON value. The document's record keeps them all."""
    header = "\n".join(p for p in (doc.title, chunk.section, chunk.text) if p)
    return {
        "pk": row_id(doc.id, chunk.ordinal, content_hash),
        "chunk_id": chunk.chunk_id,
        "document_id": doc.id,
        "ordinal": chunk.ordinal,
        "start_offset": chunk.start,
        "end_offset": chunk.end,
        "page": chunk.page,
        "section": None if chunk.section is None else _clip(chunk.section, 4096),
        "title": _clip(doc.title, 4096),
        "text": _clip(chunk.text),
        "lexical": _clip(lexical_text(header)),
        "metadata": cut_to(doc.metadata, chunk.start, chunk.end),
        "content_hash": content_hash,
        "vector": vector.tolist(),
    }


def stored_chunk(row: dict[str, Any]) -> StoredChunk:
    """A chunk row as a search (`entity`, `id`) or a query (fields at the top) returns it."""
    entity = row.get("entity", row)
    return StoredChunk.from_record(
        {
            **entity,
            "row_id": row.get("pk", row.get("id", entity.get("pk"))),
            "start": entity["start_offset"],
            "end": entity["end_offset"],
        }
    )


def document_rows(doc: Document, content_hash: str) -> list[dict[str, Any]]:
    """The document's record with what listing it shows, cut into parts."""
    record = {
        **doc.to_record(),
        "content_hash": content_hash,
        "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    payload = json.dumps(record, ensure_ascii=False)
    parts = [payload[i : i + _PART_CHARS] for i in range(0, len(payload), _PART_CHARS)]
    return [
        {
            "key": f"{doc.id}\x1f{number}",
            "document_id": doc.id,
            "part": number,
            "content_hash": content_hash,
            "payload": part,
            "placeholder": [0.0, 0.0],
        }
        for number, part in enumerate(parts)
    ]


def document_record(parts: list[tuple[int, str]]) -> dict[str, Any]:
    """A document's record put together again from its (part, payload) rows."""
    record: dict[str, Any] = json.loads("".join(payload for _, payload in sorted(parts)))
    return record


def metadata_refusal(doc: Document, chunks: Sequence[Chunk]) -> str | None:
    """Why the document's chunk rows would not fit Milvus, or None. An OCR'd document's
    rows hold their own lines' boxes only (chunk_row); other metadata goes whole into
    every row, and a record's metadata is the user's to make as large as they like."""
    if line_boxes(doc.metadata) is None:
        shown = [doc.metadata]
    else:
        shown = [cut_to(doc.metadata, c.start, c.end) for c in chunks]
    size = max(len(json.dumps(m, ensure_ascii=False).encode()) for m in shown)
    if size <= JSON_LIMIT:
        return None
    return (
        f"{doc.id}: its metadata takes {size} bytes as JSON in a chunk's row, over Milvus's "
        f"limit of {JSON_LIMIT} for one value; keep it smaller (or use the FAISS backend)"
    )
