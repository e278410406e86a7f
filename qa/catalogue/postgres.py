"""The shared catalogue of several API replicas: any PostgreSQL, by URL.

Connections are opened per call: catalogue calls are a few per request and
PostgreSQL accepts a connection in about a millisecond on a LAN; a
pool would be the next step for hundreds of requests a second.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import blake2b
from typing import Any

from qa.errors import CatalogueUnavailableError

_PLACEHOLDER = re.compile(r"\?")
_POLL_S = 0.05
_SCHEMA_LOCK = "catalogue-schema"


class _Connection:
    """Takes the catalogue's `?` placeholders (it has no literal '?' or '%')."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._connection.execute(_PLACEHOLDER.sub("%s", sql), params)


class PostgresBackend:
    skip_locked = " FOR UPDATE SKIP LOCKED"
    reads_inline = False

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def connect(self) -> Iterator[_Connection]:
        import psycopg
        from psycopg.rows import dict_row

        try:
            connection = psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=10
            )
        except psycopg.OperationalError as exc:
            raise CatalogueUnavailableError(
                f"cannot reach the catalogue database {self.describe()}: {exc}"
            ) from None
        with connection:
            yield _Connection(connection)

    def create(self, schema: str) -> None:
        """Under a lock that every replica takes: PostgreSQL's CREATE ... IF NOT EXISTS is
        not safe against another session running it at the same moment (one of two
        replicas starting together failed with a unique violation in pg_type)."""
        with self.lock(_SCHEMA_LOCK, None), self.connect() as db:
            for statement in filter(None, (s.strip() for s in schema.split(";"))):
                db.execute(statement)

    def add_columns(self, table: str, columns: dict[str, str]) -> None:
        with self.lock(_SCHEMA_LOCK, None), self.connect() as db:
            for name, kind in columns.items():
                db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {kind}")

    @contextmanager
    def lock(self, key: str, wait_s: float | None) -> Iterator[None]:
        """A session advisory lock on a connection held for the block: PostgreSQL
        releases it when the connection ends, so a replica that dies frees it."""
        number = int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
        deadline = None if wait_s is None else time.monotonic() + wait_s
        with self.connect() as db:
            if deadline is None:
                db.execute("SELECT pg_advisory_lock(?)", (number,))
            while deadline is not None:
                row = db.execute("SELECT pg_try_advisory_lock(?) AS held", (number,)).fetchone()
                if row["held"]:
                    break
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"lock {key!r} stayed held for {wait_s:g} s")
                time.sleep(_POLL_S)
            yield

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)
