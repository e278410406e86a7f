"""The one-machine catalogue: a SQLite file in WAL mode, a connection per thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa.store.locks import flock_within


class SqliteBackend:
    skip_locked = ""
    reads_inline = True  # WAL: a reader never waits for a writer; 5 us on a kept connection

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, opened on its first call and kept: opening one took
        0.33 ms of the 0.34 a key check costs (every /v1 request makes one). Statements
        run in autocommit, so a kept connection holds no transaction between calls; it
        closes with its thread."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 30000")
            self._local.db = db
        yield db

    def create(self, schema: str) -> None:
        with self.connect() as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(schema)

    def add_columns(self, table: str, columns: dict[str, str]) -> None:
        with self.connect() as db:
            have = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name in have:
                    continue
                try:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:
                    # Another process sharing the file added it first.
                    if "duplicate column" not in str(exc):
                        raise

    def describe(self) -> str:
        return str(self.path)

    @contextmanager
    def lock(self, key: str, wait_s: float | None) -> Iterator[None]:
        """A file lock beside the database, `catalogue.sqlite.locks/KEY.lock`: every process
        sharing this file shares its folder. The kernel drops it when its holder dies."""
        folder = self.path.parent / f"{self.path.name}.locks"
        folder.mkdir(exist_ok=True)
        with (folder / f"{key}.lock").open("a") as file:
            if not flock_within(file, wait_s):
                raise TimeoutError(f"lock {key!r} stayed held for {wait_s:g} s")
            yield
