"""What the catalogue's tables share: the database they live in, the name of the
process using it, and how they write a time. Each table is a mixin on this base so
that `Catalogue` stays the one object callers hold, while each table's SQL lives in
a module of its own."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime

from qa.catalogue.backend import CatalogueBackend, Connection


def now() -> str:
    """Seconds-precision UTC in ISO 8601: sorts as text, and reads the same in SQLite,
    PostgreSQL and the JSON the API returns."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Tables:
    backend: CatalogueBackend
    owner: str
    """Names this process's ingestion worker: jobs are spooled on its disk, so only it
    may claim them."""

    def _db(self) -> AbstractContextManager[Connection]:
        return self.backend.connect()
