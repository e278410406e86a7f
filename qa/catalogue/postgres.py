"""The shared catalogue of several API replicas: any PostgreSQL, by URL.

Connections are opened per call, as with SQLite: catalogue calls are a few per
request and PostgreSQL accepts a connection in about a millisecond on a LAN; a
pool would be the next step for hundreds of requests a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qa.errors import CatalogueUnavailableError

_PLACEHOLDER = re.compile(r"\?")


class _Connection:
    """Takes the catalogue's `?` placeholders (it has no literal '?' or '%')."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._connection.execute(_PLACEHOLDER.sub("%s", sql), params)


class PostgresBackend:
    skip_locked = " FOR UPDATE SKIP LOCKED"

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
        with self.connect() as db:
            for statement in filter(None, (s.strip() for s in schema.split(";"))):
                db.execute(statement)

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)
