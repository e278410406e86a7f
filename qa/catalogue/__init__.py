"""The service's own state beside the indexes: API keys, ingestion jobs, and collections
created over HTTP that hold no document yet.

One machine: a SQLite file (`catalogue.sqlite` in the index dir), opened per call
with WAL and a busy timeout, so the server's threads, its ingestion worker and a
`qa keys` command in another process can use it at once. Several API replicas:
one PostgreSQL database for all of them (`QA_CATALOGUE_URL=postgresql://...`), so
a key created or revoked anywhere holds everywhere and any replica can report any
job. The SQL is shared; each backend module only opens connections.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from qa.catalogue.backend import CatalogueBackend, open_backend
from qa.errors import InvalidInputError

Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = ("reader", "writer", "admin")
JobStatus = Literal["queued", "running", "done", "failed"]
ALL_COLLECTIONS = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    collections TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    status TEXT NOT NULL,
    spool TEXT NOT NULL,
    files TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]',
    result TEXT NOT NULL DEFAULT '{}',
    key_id TEXT,
    owner TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(owner, status, seq);
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    embedder TEXT,
    created_at TEXT NOT NULL
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    collections: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    def allows(self, collection: str) -> bool:
        return ALL_COLLECTIONS in self.collections or collection in self.collections

    def at_least(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "collections": list(self.collections),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass
class Job:
    id: str
    collection: str
    status: JobStatus
    spool: str
    files: list[str]
    done: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    key_id: str | None = None
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The public view: the spool folder is the server's business."""
        return {
            "id": self.id,
            "collection": self.collection,
            "status": self.status,
            "files": self.files,
            "progress": {
                "done": self.done,
                "total": self.total,
                "fraction": round(self.done / self.total, 4) if self.total else None,
            },
            "errors": self.errors,
            "result": self.result,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def _job(row: Mapping[str, Any]) -> Job:
    return Job(
        id=row["id"],
        collection=row["collection"],
        status=row["status"],
        spool=row["spool"],
        files=json.loads(row["files"]),
        done=row["done"],
        total=row["total"],
        errors=json.loads(row["errors"]),
        result=json.loads(row["result"]),
        key_id=row["key_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        collections=tuple(json.loads(row["collections"])),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class Catalogue:
    def __init__(self, location: Path | str, *, owner: str | None = None) -> None:
        """location: a SQLite file, or a postgresql:// URL. owner names this process's
        ingestion worker: jobs are spooled on its disk, so only it may claim them."""
        self.backend: CatalogueBackend = open_backend(location)
        self.location = location
        self.owner = owner or socket.gethostname()
        self.backend.create(_SCHEMA)

    def _db(self) -> Any:
        return self.backend.connect()

    # API keys. A key reads `qa_<id>_<secret>`: the id finds the row, only a hash of the
    # whole key is stored, and the secret's 256 random bits make a salt unnecessary.

    def create_key(self, name: str, role: Role, collections: Sequence[str]) -> tuple[ApiKey, str]:
        if role not in ROLES:
            raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        scope = tuple(dict.fromkeys(c.strip() for c in collections if c.strip()))
        if not scope:
            raise InvalidInputError("a key needs at least one collection, or '*' for all")
        key_id = secrets.token_hex(6)
        token = f"qa_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name or key_id, role, scope, now())
        with self._db() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key.id, key.name, _hash(token), role, json.dumps(scope), key.created_at),
            )
        return key, token

    def revoke_key(self, key_id: str) -> bool:
        with self._db() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now(), key_id),
            )
            return cursor.rowcount > 0

    def keys(self) -> list[ApiKey]:
        with self._db() as db:
            return [_key(r) for r in db.execute("SELECT * FROM api_keys ORDER BY created_at")]

    def has_active_keys(self) -> bool:
        with self._db() as db:
            row = db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone()
            return row is not None

    def authenticate(self, token: str) -> ApiKey | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "qa":
            return None
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", (parts[1],)
            ).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], _hash(token)):
            return None
        return _key(row)

    # Collections created over HTTP: recorded here until their first document arrives,
    # since the embedder ('auto') may depend on that document's language.

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

    # Ingestion jobs, worked through in order of arrival by one worker per server.

    def create_job(
        self, collection: str, spool: Path, files: Sequence[str], key_id: str | None
    ) -> Job:
        job = Job(
            id=uuid.uuid4().hex,
            collection=collection,
            status="queued",
            spool=str(spool),
            files=list(files),
            key_id=key_id,
            created_at=now(),
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO jobs (id, collection, status, spool, files, key_id, owner, seq, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    collection,
                    "queued",
                    job.spool,
                    json.dumps(job.files),
                    key_id,
                    self.owner,
                    time.time_ns(),
                    job.created_at,
                ),
            )
        return job

    def job(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def claim_next_job(self) -> Job | None:
        """The oldest queued job of this owner, marked running in the same statement,
        so two workers never take the same one."""
        with self._db() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'running', started_at = ? WHERE id = ("
                "SELECT id FROM jobs WHERE status = 'queued' AND owner = ? ORDER BY seq LIMIT 1"
                f"{self.backend.skip_locked}) AND status = 'queued' RETURNING *",
                (now(), self.owner),
            ).fetchone()
        return _job(row) if row else None

    def job_progress(self, job_id: str, done: int, total: int) -> None:
        with self._db() as db:
            db.execute("UPDATE jobs SET done = ?, total = ? WHERE id = ?", (done, total, job_id))

    def finish_job(
        self, job_id: str, status: JobStatus, errors: Sequence[str], result: dict[str, Any]
    ) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET status = ?, errors = ?, result = ?, finished_at = ? WHERE id = ?",
                (
                    status,
                    json.dumps(list(errors), ensure_ascii=False),
                    json.dumps(result),
                    now(),
                    job_id,
                ),
            )

    def queued_jobs(self) -> int:
        with self._db() as db:
            row = db.execute("SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued'").fetchone()
            return int(row["n"])

    def fail_interrupted_jobs(self) -> int:
        """This owner's jobs left running when it stopped: their work was never published.
        Other replicas' running jobs are theirs to report."""
        with self._db() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, "
                "errors = '[\"interrupted: the server stopped before the job finished\"]' "
                "WHERE status = 'running' AND owner = ?",
                (now(), self.owner),
            )
            return cursor.rowcount
