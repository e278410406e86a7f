"""Where the catalogue's rows live: one small module per database, chosen by location."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol


class Connection(Protocol):
    """What the catalogue's SQL needs of a connection: `?` placeholders, rows that
    are read by column name, autocommit."""

    def execute(self, sql: str, params: Any = ...) -> Any: ...


class CatalogueBackend(Protocol):
    skip_locked: str
    """Appended to the subquery that picks the next job: row locking where the
    database has it."""
    reads_inline: bool
    """Whether a read is brief enough for the event loop: a kept local connection whose
    reads never wait for a writer (SQLite in WAL mode), not a round trip to a server."""

    def connect(self) -> AbstractContextManager[Connection]: ...

    def create(self, schema: str) -> None: ...

    def describe(self) -> str: ...

    def add_columns(self, table: str, columns: dict[str, str]) -> None:
        """Columns a later version added to a table that an earlier one created (CREATE
        TABLE IF NOT EXISTS leaves an existing table as it was); names and types come
        from our code, never from a request."""
        ...

    def lock(self, key: str, wait_s: float | None) -> AbstractContextManager[None]:
        """Held by one process at a time among all that share this catalogue, on any
        machine; TimeoutError if another held it for `wait_s` seconds (None: no limit).
        Released when the holder exits the block or dies."""
        ...


def open_backend(location: Path | str) -> CatalogueBackend:
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from qa.catalogue.postgres import PostgresBackend

        return PostgresBackend(text)
    from qa.catalogue.sqlite import SqliteBackend

    return SqliteBackend(Path(location))
