"""Documents and chunks in SQLite: the source of truth a rebuild starts from."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.errors import InvalidInputError
from qa.page_regions import cut_to
from qa.records import Chunk, Document, FilterValue, StoredChunk

DOCSTORE_FILE = "docstore.sqlite"
_DOCUMENT_COLUMNS = ("id", "title", "text", "metadata", "pages", "sections", "source")
"""A document's record (`Document.to_record`), one column per key."""
_JSON_COLUMNS = ("metadata", "pages", "sections")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    pages TEXT NOT NULL,
    sections TEXT NOT NULL,
    source TEXT,
    content_hash TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    page INTEGER,
    section TEXT,
    text TEXT NOT NULL,
    metadata TEXT,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
"""
# chunks.metadata: the document's metadata as the chunk shows it, where that differs
# (an OCR'd document's line boxes cut to the chunk's own, qa.page_regions), else NULL. A
# hit then parses its few lines, not the whole scan's (1665 -> 2.2 ms a search on a
# 300-page scan: scripts/bench_scanned_search.py). Docstores written before it lack
# the column: their chunks show the document's metadata, cut as they are shown.


class DocStore:
    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self.path = path
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
        if "metadata" not in columns and not readonly:
            self._db.execute("ALTER TABLE chunks ADD COLUMN metadata TEXT")
            columns.add("metadata")
        self._chunk_metadata = (
            "COALESCE(c.metadata, d.metadata)" if "metadata" in columns else ("d.metadata")
        )

    def close(self) -> None:
        self._db.close()

    def commit(self) -> None:
        self._db.commit()

    def content_hashes(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT id, content_hash FROM documents"))

    def counts(self) -> tuple[int, int]:
        docs = self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)

    def chunk_row_ids(self) -> list[int]:
        return [r[0] for r in self._db.execute("SELECT id FROM chunks ORDER BY id")]

    def next_row_id(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM chunks").fetchone()[0])

    def delete_document(self, document_id: str) -> list[int]:
        """Remove a document; returns the row ids of its chunks for the vector index."""
        rows = [
            r[0]
            for r in self._db.execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))
        ]
        self._db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        self._db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        return rows

    def add_document(self, doc: Document, chunks: Sequence[Chunk], first_row_id: int) -> list[int]:
        record = doc.to_record()
        values = [
            json.dumps(record[c], ensure_ascii=False) if c in _JSON_COLUMNS else record[c]
            for c in _DOCUMENT_COLUMNS
        ]
        self._db.execute(
            f"INSERT INTO documents ({', '.join(_DOCUMENT_COLUMNS)}, content_hash, ingested_at) "
            f"VALUES ({', '.join('?' * (len(_DOCUMENT_COLUMNS) + 2))})",
            [*values, doc.content_hash, datetime.now(UTC).isoformat(timespec="seconds")],
        )
        row_ids = list(range(first_row_id, first_row_id + len(chunks)))
        self._db.executemany(
            'INSERT INTO chunks (id, document_id, ordinal, start, "end", page, section, text, '
            "metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    rid,
                    c.document_id,
                    c.ordinal,
                    c.start,
                    c.end,
                    c.page,
                    c.section,
                    c.text,
                    _own_metadata(doc.metadata, c),
                )
                for rid, c in zip(row_ids, chunks, strict=True)
            ],
        )
        return row_ids

    def document_summaries(
        self, offset: int = 0, limit: int | None = None, document_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Documents as listed over HTTP: id, title, chunk count, metadata, ingested-at."""
        where, params = ("WHERE d.id = ?", [document_id]) if document_id is not None else ("", [])
        rows = self._db.execute(
            "SELECT d.id, d.title, d.metadata, d.source, d.ingested_at, d.content_hash, "
            "LENGTH(d.text), (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) "
            f"FROM documents d {where} ORDER BY d.id LIMIT ? OFFSET ?",
            [*params, -1 if limit is None else limit, offset],
        )
        return [
            {
                "id": r[0],
                "title": r[1],
                "metadata": json.loads(r[2]),
                "source": r[3],
                "ingested_at": r[4],
                "content_hash": r[5],
                "characters": r[6],
                "chunks": r[7],
            }
            for r in rows
        ]

    def document_text(self, document_id: str) -> str | None:
        row = self._db.execute("SELECT text FROM documents WHERE id = ?", (document_id,)).fetchone()
        return None if row is None else str(row[0])

    def documents(self) -> Iterator[Document]:
        rows = self._db.execute(f"SELECT {', '.join(_DOCUMENT_COLUMNS)} FROM documents ORDER BY id")
        for row in rows:
            record = dict(zip(_DOCUMENT_COLUMNS, row, strict=True))
            for column in _JSON_COLUMNS:
                record[column] = json.loads(record[column])
            yield Document.from_record(record)

    def chunks_by_row_ids(self, row_ids: Iterable[int]) -> dict[int, StoredChunk]:
        ids = list(row_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            'SELECT c.id, c.document_id, c.ordinal, c.start, c."end", c.page, c.section, c.text, '
            f"d.title, {self._chunk_metadata} FROM chunks c JOIN documents d "
            f"ON d.id = c.document_id WHERE c.id IN ({marks})",
            ids,
        )
        # Positional, not through `StoredChunk.from_record`: every search fetches its fused
        # candidates here, and a record dict per row cost a tenth of a search's time
        # (80 us for 50 rows). Metadata met twice (a document's chunks) is parsed once.
        parsed: dict[str, Any] = {}
        return {
            row_id: StoredChunk(
                row_id,
                doc,
                ordinal,
                start,
                end,
                page,
                section,
                text,
                title,
                parsed[metadata]
                if metadata in parsed
                else parsed.setdefault(metadata, json.loads(metadata)),
            )
            for row_id, doc, ordinal, start, end, page, section, text, title, metadata in rows
        }

    def lexical_rows(self) -> Iterator[tuple[int, str]]:
        rows = self._db.execute(
            "SELECT c.id, d.title, c.section, c.text FROM chunks c "
            "JOIN documents d ON d.id = c.document_id ORDER BY c.id"
        )
        for row_id, title, section, text in rows:
            yield row_id, "\n".join(part for part in (title, section, text) if part)

    def row_ids_matching(self, filters: Mapping[str, FilterValue]) -> list[int]:
        """Chunk row ids whose document matches every filter (equality, or 'in' for a list)."""
        clauses: list[str] = []
        params: list[Any] = []
        for key, value in filters.items():
            if key in ("document", "document_id"):
                column = "d.id"
            elif key == "title":
                column = "d.title"
            elif key.replace("_", "").replace("-", "").isalnum():
                column = f"json_extract(d.metadata, '$.\"{key}\"')"
            else:
                raise InvalidInputError(f"filter key {key!r} must be letters, digits, '_' or '-'")
            values = list(value) if isinstance(value, list | tuple) else [value]
            if not values:
                raise InvalidInputError(f"filter {key!r} has an empty list of values")
            for v in values:
                if not isinstance(v, str | int | float | bool):
                    raise InvalidInputError(f"filter {key!r} values must be strings or numbers")
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
        where = " AND ".join(clauses) or "1"
        rows = self._db.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE {where}",
            params,
        )
        return [r[0] for r in rows]


def _own_metadata(metadata: dict[str, Any], chunk: Chunk) -> str | None:
    own = cut_to(metadata, chunk.start, chunk.end)
    return None if own is metadata else json.dumps(own, ensure_ascii=False)
