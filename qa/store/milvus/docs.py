"""The documents of one Milvus-held collection: listing, reading and counting them
(what the FAISS backend's SQLite docstore answers)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from qa.records import Document
from qa.store.milvus.filters import any_of
from qa.store.milvus.rows import document_record
from qa.store.milvus.schema import STRONG

_PAGE = 1_000


class MilvusDocs:
    def __init__(self, client: Any, docs: str, chunks: str) -> None:
        self._client, self._docs, self._chunks = client, docs, chunks

    def query(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row of `collection` matching `expr`, fetched page by page."""
        rows: list[dict[str, Any]] = []
        iterator = self._client.query_iterator(
            collection, batch_size=_PAGE, filter=expr, output_fields=fields
        )
        try:
            while batch := iterator.next():
                rows.extend(batch)
        finally:
            iterator.close()
        return rows

    def content_hashes(self) -> dict[str, str]:
        rows = self.query(self._docs, "part == 0", ["document_id", "content_hash"])
        return {r["document_id"]: r["content_hash"] for r in rows}

    def counts(self) -> tuple[int, int]:
        docs = self._client.query(
            self._docs, filter="part == 0", output_fields=["count(*)"], consistency_level=STRONG
        )
        chunks = self._client.query(
            self._chunks, filter="", output_fields=["count(*)"], consistency_level=STRONG
        )
        return int(docs[0]["count(*)"]), int(chunks[0]["count(*)"])

    def _records(self, document_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Whole document records, reassembled from their parts."""
        if not document_ids:
            return {}
        parts: dict[str, list[tuple[int, str]]] = {}
        for start in range(0, len(document_ids), _PAGE):
            expr = any_of("document_id", document_ids[start : start + _PAGE])
            for row in self.query(self._docs, expr, ["document_id", "part", "payload"]):
                parts.setdefault(row["document_id"], []).append((row["part"], row["payload"]))
        return {doc: document_record(pieces) for doc, pieces in parts.items()}

    def document_ids(self) -> list[str]:
        return sorted(
            r["document_id"] for r in self.query(self._docs, "part == 0", ["document_id"])
        )

    def document_summaries(
        self, offset: int = 0, limit: int | None = None, document_id: str | None = None
    ) -> list[dict[str, Any]]:
        ids = self.document_ids() if document_id is None else [document_id]
        page = ids[offset : None if limit is None else offset + limit]
        records = self._records(page)
        counts: dict[str, int] = dict.fromkeys(records, 0)
        if records:
            for row in self.query(self._chunks, any_of("document_id", records), ["document_id"]):
                counts[row["document_id"]] += 1
        return [
            {
                "id": doc,
                "title": records[doc]["title"],
                "metadata": records[doc]["metadata"],
                "source": records[doc]["source"],
                "ingested_at": records[doc]["ingested_at"],
                "content_hash": records[doc]["content_hash"],
                "characters": len(records[doc]["text"]),
                "chunks": counts[doc],
            }
            for doc in page
            if doc in records
        ]

    def document_text(self, document_id: str) -> str | None:
        record = self._records([document_id]).get(document_id)
        return None if record is None else str(record["text"])

    def documents(self) -> Iterator[Document]:
        ids = self.document_ids()
        for start in range(0, len(ids), 100):
            records = self._records(ids[start : start + 100])
            for doc in ids[start : start + 100]:
                if doc in records:
                    yield Document.from_record(records[doc])
