"""Background ingestion: uploads are spooled to disk and recorded as queued jobs in the
catalogue; a worker thread claims them one at a time (embedding saturates the CPU, so
two at once would only each take twice as long), has a child process parse the files
under resource limits (qa.ingest.sandbox), ingests what it read, records progress and
the outcome per file, and removes the spool.

The job table lives in the catalogue rather than in memory so that a job's status
outlives the request that made it, and a restarted server reports what it lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from qa.catalogue import Catalogue, Job, JobStatus
from qa.catalogue.jobs import JobPhase
from qa.errors import ConflictError, PayloadTooLargeError, QAError
from qa.ingest.ocr import progress as ocr_progress
from qa.ingest.sandbox import IsolatedReader, ParseLimits
from qa.runtime import Runtime
from qa.store.backend import Guard

log = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
"""The spool name of records posted as JSON: one of the formats `qa ingest` reads."""

INTERNAL_ERROR = "internal error; the server log has the details"
"""A job's error for a failure on the server's side, whose message may name file paths
or database hosts: job errors are shown to whoever may read the collection."""


class JobWorker:
    def __init__(self, runtime: Runtime, catalogue: Catalogue, *, poll_s: float = 1.0) -> None:
        self.runtime = runtime
        self.catalogue = catalogue
        self.poll_s = poll_s
        self.reader = IsolatedReader(ParseLimits.from_settings(runtime.settings))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        lost = self.catalogue.fail_interrupted_jobs()
        if lost:
            log.warning("%d ingestion job(s) were interrupted by the last shutdown", len(lost))
        for spool in lost:
            shutil.rmtree(spool, ignore_errors=True)
        self._thread = threading.Thread(target=self._loop, name="ingest-worker", daemon=True)
        self._thread.start()

    def enqueue(
        self, collection: str, spool: Path, files: Sequence[str], key_id: str | None
    ) -> Job:
        """Queue a spooled upload, unless the spool (this upload included) then holds more
        than `spool_max_bytes`: uploads queued behind a long ingestion must not fill the
        disk. Every upload's folder counts, finished or still arriving."""
        limit = self.runtime.settings.spool_max_bytes
        held = _bytes_under(spool.parent)
        if held > limit:
            raise PayloadTooLargeError(
                f"the upload queue is full: queued uploads and this one hold {held} bytes, "
                f"over the limit of {limit} (QA_SPOOL_MAX_BYTES); retry once queued jobs "
                "have run"
            )
        return self.catalogue.create_job(collection, spool, files, key_id)

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.reader.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.catalogue.claim_next_job()
            except Exception:
                # A locked or briefly unreadable catalogue must not end the worker:
                # every later upload would stay queued for good.
                log.exception("claiming the next ingestion job failed; retrying")
                job = None
            if job is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            # Each job in a thread that ends with it. Torch's OpenMP runtime (libgomp) keeps
            # a team of threads for every thread that ran parallel work, for as long as that
            # thread lives; once it manages more threads than there are cores, every team
            # stops spinning between parallel regions and sleeps instead. A worker thread
            # that had embedded one upload would slow each later search's query embedding
            # about 2x (docs/PERFORMANCE.md, "OpenMP teams").
            runner = threading.Thread(
                target=self._run_logged, args=(job,), name=f"ingest-job-{job.id}", daemon=True
            )
            runner.start()
            runner.join()

    def _run_logged(self, job: Job) -> None:
        try:
            self.run(job)
        except Exception:
            log.exception("job %s: recording its outcome failed", job.id)

    def _still_there(self, collection: str) -> Guard:
        """Checked under the collection's writer lock before the job's change is
        published: a DELETE removes the catalogue's record first, then the store's under
        that lock, so a collection deleted while the job ran stays deleted."""
        store = self.runtime.store

        def guard() -> None:
            if not (store.exists(collection) or self.catalogue.collection_embedder(collection)[0]):
                raise ConflictError(
                    f"collection {collection!r} was deleted while the job ran; nothing was ingested"
                )

        return guard

    def run(self, job: Job) -> None:
        started = time.perf_counter()
        spool = Path(job.spool)
        log.info("job %s: ingesting %d file(s) into %s", job.id, len(job.files), job.collection)
        try:
            created, requested = self.catalogue.collection_embedder(job.collection)
            exists = self.runtime.store.exists(job.collection)
        except Exception:
            shutil.rmtree(spool, ignore_errors=True)
            self.catalogue.finish_job(job.id, "failed", [INTERNAL_ERROR], {})
            log.exception("job %s failed", job.id)
            return
        if not created and not exists:
            # Deleted while the job waited: ingesting would bring it back.
            shutil.rmtree(spool, ignore_errors=True)
            self.catalogue.finish_job(
                job.id,
                "failed",
                [f"collection {job.collection!r} was deleted before the job ran"],
                {},
            )
            return
        if requested == "auto" or exists:
            requested = None
        last = 0.0
        shown: tuple[JobPhase, str | None] | None = None

        def note(done: int, total: int, phase: JobPhase, file: str | None) -> None:
            nonlocal last, shown
            if done == total or (phase, file) != shown or time.monotonic() - last > 0.5:
                last, shown = time.monotonic(), (phase, file)
                self.catalogue.job_progress(job.id, done, total, phase, file)

        def progress(done: int, total: int) -> None:
            note(done, total, "embedding", None)

        def pages(document_id: str, done: int, total: int) -> None:
            """A file's OCR shows as pages done of its pages, until embedding starts."""
            note(done, total, "reading", document_id)

        try:
            with ocr_progress.reporting(pages):
                report = self.runtime.ingest(
                    [spool],
                    job.collection,
                    embedder=requested,
                    progress=False,
                    on_progress=progress,
                    guard=self._still_there(job.collection),
                    read_file=self.reader,
                )
        except QAError as exc:
            error = exc.detail if exc.status < 500 else INTERNAL_ERROR
            self.catalogue.finish_job(job.id, "failed", [error], {})
            log.warning("job %s failed: %s", job.id, exc.detail)
            return
        except Exception:
            self.catalogue.finish_job(job.id, "failed", [INTERNAL_ERROR], {})
            log.exception("job %s failed", job.id)
            return
        finally:
            shutil.rmtree(spool, ignore_errors=True)
        result = {
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
            "failed": report.failed,
            "not_read": [e.replace(f"{spool}/", "") for e in report.not_read],
            "chunks": report.chunks,
            "seconds": round(time.perf_counter() - started, 3),
        }
        ingested = report.added or report.updated or report.unchanged
        status: JobStatus = "done" if ingested or not report.errors else "failed"
        # A library's message may name the spooled file by its full path.
        errors = [e.replace(f"{spool}/", "") for e in report.errors]
        self.catalogue.finish_job(job.id, status, errors, result)
        log.info(
            "job %s %s: %d added, %d updated, %d unchanged, %d error(s)",
            job.id,
            status,
            len(report.added),
            len(report.updated),
            len(report.unchanged),
            len(report.errors),
        )


def _bytes_under(root: Path) -> int:
    """Files vanish while they are counted (a finished job's spool): those count nothing."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total
