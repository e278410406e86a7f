"""Collections created over HTTP, recorded here until their first document arrives:
the store has nothing to hold before then, and the embedder ('auto') may depend on
that document's language."""

from __future__ import annotations

from qa.catalogue.tables import Tables, now

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    embedder TEXT,
    created_at TEXT NOT NULL
);"""


class CollectionTable(Tables):
    def add_collection(self, name: str, embedder: str | None) -> bool:
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO collections VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (name, embedder, now()),
            )
            return cursor.rowcount > 0

    def collection_embedder(self, name: str) -> tuple[bool, str | None]:
        """Whether the collection was created here, and the embedder asked for."""
        with self._db() as db:
            row = db.execute("SELECT embedder FROM collections WHERE name = ?", (name,)).fetchone()
        return (row is not None, row["embedder"] if row else None)

    def collection_names(self) -> list[str]:
        with self._db() as db:
            return [r["name"] for r in db.execute("SELECT name FROM collections ORDER BY name")]

    def remove_collection(self, name: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM collections WHERE name = ?", (name,))
