"""Settings of the running service: its catalogue, audit log and the bounds every
request and uploaded file is held to. Part of the one `Settings` object."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class ServiceSettings(BaseSettings):
    catalogue: Path | None = Field(
        default=None,
        description="SQLite file of API keys, ingestion jobs and collections created over "
        "HTTP [default: catalogue.sqlite in the index dir].",
    )
    catalogue_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host/db: one catalogue shared by several "
        "API replicas (keys, jobs, collections created over HTTP); overrides `catalogue`.",
    )
    instance: str | None = Field(
        default=None,
        description="This server's name among replicas sharing a catalogue: uploads are "
        "spooled on its disk, so only it ingests them [default: host name and index dir].",
    )
    audit_log: Path | None = Field(
        default=None,
        description="JSON-lines audit log of every /v1 request (time, key, route, collection, "
        "question, returned documents) [default: audit.jsonl in the index dir].",
    )
    audit: bool = Field(default=True, description="Write the audit log.")
    audit_questions: Literal["hash", "text"] = Field(
        default="hash",
        description="Record each question as its SHA-256 (default: the log then holds no "
        "patient or client text) or as the text itself.",
    )
    max_upload_bytes: int = Field(
        default=200_000_000, ge=1024, description="Largest document upload request."
    )
    max_upload_files: int = Field(default=200, ge=1, description="Files in one upload.")
    generation_queue: int = Field(
        default=8,
        ge=0,
        description="Questions that may wait for the generator; one more gets 503 with "
        "Retry-After instead of piling up.",
    )
    request_timeout_s: float = Field(
        default=180.0, gt=0, description="An answer not finished by then is stopped: 504."
    )
    max_question_chars: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_file_bytes: int = Field(default=50_000_000, ge=1)
    # What one document may ask of a loader: the why of each is in qa/ingest/loaders.
    max_unzipped_bytes: int = Field(default=200_000_000, ge=1, description="DOCX unzipped.")
    max_zip_ratio: float = Field(default=100.0, ge=1, description="DOCX part (>1 MB) inflation.")
    max_pdf_pages: int = Field(default=10_000, ge=1)
    max_pdf_page_points: float = Field(default=14_400.0, gt=0, description="PDF page side.")
    max_html_depth: int = Field(default=256, ge=8, le=512, description="HTML element nesting.")
    max_sheet_cells: int = Field(
        default=1_000_000, ge=1, description="Spreadsheet or CSV cells (an empty row counts one)."
    )
    max_attachments: int = Field(
        default=100, ge=0, description="Mail attachments read from one .eml or .mbox file."
    )
    max_mail_depth: int = Field(default=3, ge=0, description="Mails attached inside mails.")
    generation_concurrency: int = Field(default=1, ge=1)

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names, besides 127.0.0.1, localhost, [::1] and the address "
        "served on, that requests to a service running open (no API key) may name, e.g. "
        "a name of this machine in /etc/hosts. Any other Host is refused with 403: a web "
        "page could otherwise point its own name at 127.0.0.1 (DNS rebinding) and read "
        "everything. JSON in the environment: QA_ALLOWED_HOSTS='[\"qa.local\"]'.",
    )

    delete_wait_s: float = Field(default=3.0, gt=0)
    """Seconds a DELETE waits for the collection's writer lock, then 503 with Retry-After."""
    spool_max_bytes: int = Field(default=2_000_000_000, ge=1)
    """Bytes queued uploads may hold in INDEX_DIR/.spool; an upload past it gets 413."""
    parse_cpu_s: int = Field(default=120, ge=1)
    """CPU seconds an uploaded file may take to parse (RLIMIT_CPU of the parsing child)."""
    parse_wall_s: float = Field(default=300.0, gt=0)
    """Seconds an uploaded file may take to parse, CPU spent or not."""
    parse_memory_mb: int = Field(default=2048, ge=128)
    """Address space of the child parsing uploads (RLIMIT_AS, MiB; its libraries take 90)."""
