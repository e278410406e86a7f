"""Files into documents: which files a path names, the reader that parses one, and
what a file's outcome puts into the ingestion report.

One file at a time here; qa.ingest.read_ahead runs these ahead of the embedder."""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from qa.errors import InvalidInputError, LoaderError
from qa.ingest import loaders
from qa.ingest.report import IngestReport
from qa.records import Document

log = logging.getLogger(__name__)


def discover(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """(file, document id) pairs; the id is the path relative to the folder given."""
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(path)
                if file.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield file, rel.as_posix()
        elif path.exists():
            yield path, path.name
        else:
            raise InvalidInputError(f"{path}: no such file or folder")


class FileReader(Protocol):
    """The documents in one file, as `qa.ingest.loaders.load` reads them: a LoaderError
    naming the file on any problem. Jobs read uploads in a child process instead
    (qa.ingest.sandbox)."""

    def __call__(self, path: Path, document_id: str, *, max_bytes: int) -> Iterable[Document]: ...


@dataclass(frozen=True)
class FileRead:
    """One file's outcome: its documents, or why there are none."""

    file: Path
    document_id: str
    documents: list[Document]
    error: LoaderError | None = None
    unsupported: bool = False


def read(reader: FileReader, file: Path, document_id: str, *, max_bytes: int) -> FileRead:
    """`reader` on one file, its LoaderError kept as the outcome; a type no loader
    reads is not opened."""
    if not loaders.supported(file):
        return FileRead(file, document_id, [], unsupported=True)
    try:
        return FileRead(file, document_id, list(reader(file, document_id, max_bytes=max_bytes)))
    except LoaderError as exc:
        return FileRead(file, document_id, [], exc)


def accept(outcome: FileRead, report: IngestReport, known: Container[str]) -> list[Document]:
    """The file's documents whose ids are not in `known` (the files before it) nor
    repeated within it; the file's problems and the repeated ids go into the report."""
    if outcome.unsupported:
        report.skipped.append(outcome.document_id)
        suffix = outcome.file.suffix
        kind = f"file type {suffix!r}" if suffix else "file without a suffix"
        report.not_read.append(f"{outcome.document_id}: unsupported {kind}")
        log.info("not read %s: unsupported file type", outcome.document_id)
    if outcome.error is not None:
        report.errors.append(outcome.error.detail)
        report.failed.append(outcome.document_id)
        report.not_read.append(outcome.error.detail)
        log.warning("skipped %s", outcome.error.detail)
    kept: dict[str, Document] = {}
    for doc in outcome.documents:
        if doc.id in known or doc.id in kept:
            report.errors.append(f"{doc.id}: duplicate document id, kept the first")
        else:
            kept[doc.id] = doc
    return list(kept.values())
