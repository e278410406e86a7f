"""Ingestion jobs: uploads queued by the API, worked through in order of arrival by
one worker per server, and reported to whoever asks, on any replica."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qa.catalogue.tables import Tables, now

JobStatus = Literal["queued", "running", "done", "failed"]

SCHEMA = """
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
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(owner, status, seq);"""
ADDED_COLUMNS = {"phase": "TEXT", "file": "TEXT"}
"""Since OCR: what `done` and `total` count ("reading": pages of `file`; "embedding":
chunks), added to a jobs table an earlier version made."""

JobPhase = Literal["reading", "embedding"]


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
    phase: JobPhase | None = None
    file: str | None = None
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
                "phase": self.phase,
                "unit": {"reading": "pages", "embedding": "chunks"}.get(self.phase or ""),
                "file": self.file,
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
        phase=row["phase"],
        file=row["file"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


class JobQueue(Tables):
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

    def job_progress(
        self,
        job_id: str,
        done: int,
        total: int,
        phase: JobPhase | None = None,
        file: str | None = None,
    ) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET done = ?, total = ?, phase = ?, file = ? WHERE id = ?",
                (done, total, phase, file, job_id),
            )

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

    def fail_interrupted_jobs(self) -> list[str]:
        """This owner's jobs left running when it stopped: their work was never published.
        Other replicas' running jobs are theirs to report. Returns the failed jobs'
        spool folders, which nothing will read any more."""
        with self._db() as db:
            rows = db.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, "
                "errors = '[\"interrupted: the server stopped before the job finished\"]' "
                "WHERE status = 'running' AND owner = ? RETURNING spool",
                (now(), self.owner),
            ).fetchall()
            return [row["spool"] for row in rows]
