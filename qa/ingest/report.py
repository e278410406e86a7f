"""What an ingestion did, file by file and document by document: what `qa ingest`
prints, a job's result, and what `--sync` needs to know."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IngestReport:
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Files that could not be read this time; --sync keeps their last good version."""
    not_read: list[str] = field(default_factory=list)
    """Every file passed over, as "file: reason": an unsupported type or a loader's error."""
    chunks: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)
