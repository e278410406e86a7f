"""Per-page progress of OCR, reported to whoever ingests (the CLI's progress bar, an
ingestion job's status) without threading a callback through every loader.

OCR is the one slow part of reading a file (seconds a page), so only it reports. The
hook is a context variable: `qa ingest` and the job worker set it around an ingestion;
the parsing child of an upload (qa.ingest.sandbox) sets one that sends each report to
its parent, which passes it on to the hook set there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class PageProgress(Protocol):
    def __call__(self, document_id: str, done: int, total: int) -> None:
        """`done` of the `total` pages of a file OCR'd; called with 0 as OCR starts."""


_hook: ContextVar[PageProgress | None] = ContextVar("qa_ocr_progress", default=None)


@contextmanager
def reporting(hook: PageProgress) -> Iterator[None]:
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


def report(document_id: str, done: int, total: int) -> None:
    hook = _hook.get()
    if hook is not None:
        hook(document_id, done, total)
