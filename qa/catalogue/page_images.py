"""Pictures of OCR'd pages, on which the web page marks where a citation was read.

They live in the catalogue's database, not in the collection store: both vector
backends need them and Milvus holds no blobs, every API replica reads the one
PostgreSQL, and a FAISS generation copies its docstore with every write, which a
300-page scan's 50 MB of pictures would weigh down. A picture is keyed by its
document's content hash, so a new version of a document can never be shown with the
old one's pages; the versions that no generation holds any more are pruned by the
next ingestion of the collection (`prune`, run under its writer lock).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from qa.catalogue.backend import open_backend
from qa.records import Document

SCHEMA = """
CREATE TABLE IF NOT EXISTS page_images (
    collection TEXT NOT NULL,
    document_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    page TEXT NOT NULL,
    image BYTEA NOT NULL,
    PRIMARY KEY (collection, document_id, content_hash, page)
)"""
# BYTEA is PostgreSQL's binary type; SQLite gives the name numeric affinity, which
# stores a bytes value as the blob it is.


class PageImages:
    def __init__(self, location: Path | str) -> None:
        self.backend = open_backend(location)
        self.backend.create(SCHEMA)

    def put(self, collection: str, doc: Document) -> None:
        """The document's page pictures, kept for this version of it."""
        digest = doc.content_hash
        with self.backend.connect() as db:
            for page, image in doc.page_images.items():
                db.execute(
                    "INSERT INTO page_images VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (collection, doc.id, digest, page, image),
                )

    def get(self, collection: str, document_id: str, content_hash: str, page: str) -> bytes | None:
        with self.backend.connect() as db:
            row = db.execute(
                "SELECT image FROM page_images WHERE collection = ? AND document_id = ? "
                "AND content_hash = ? AND page = ?",
                (collection, document_id, content_hash, page),
            ).fetchone()
        return None if row is None else bytes(row["image"])

    def pictures(self, collection: str, document_id: str, content_hash: str) -> dict[str, bytes]:
        """Every page picture of one version of a document, by page label."""
        with self.backend.connect() as db:
            rows = db.execute(
                "SELECT page, image FROM page_images WHERE collection = ? AND document_id = ? "
                "AND content_hash = ?",
                (collection, document_id, content_hash),
            ).fetchall()
        return {row["page"]: bytes(row["image"]) for row in rows}

    def prune(self, collection: str, keep: Collection[tuple[str, str]]) -> int:
        """Drop the pictures of every (document id, content hash) not in `keep`; how many
        versions went. Called under the collection's writer lock with the versions of the
        live generation and of the one being written, so none that is or will be served
        goes."""
        with self.backend.connect() as db:
            held = [
                (r["document_id"], r["content_hash"])
                for r in db.execute(
                    "SELECT DISTINCT document_id, content_hash FROM page_images "
                    "WHERE collection = ?",
                    (collection,),
                )
            ]
            gone = [version for version in held if version not in keep]
            for document_id, digest in gone:
                db.execute(
                    "DELETE FROM page_images WHERE collection = ? AND document_id = ? "
                    "AND content_hash = ?",
                    (collection, document_id, digest),
                )
        return len(gone)

    def remove(self, collection: str) -> None:
        with self.backend.connect() as db:
            db.execute("DELETE FROM page_images WHERE collection = ?", (collection,))
