"""Uploaded files parsed in a child process under resource limits.

The loaders are the part of ingestion that reads hostile input: a crafted file can make
a parser spin (a regular expression backtracking inside C, holding the GIL) or allocate
without end (a decompression bomb). In the API process one such file stalls every
request or takes the process down. So the ingestion worker has its files parsed by a
child process (`python -m qa.ingest.sandbox`), one file at a time, under

- an address-space limit (RLIMIT_AS, `parse_memory_mb`): an allocation past it fails
  in the child, as a MemoryError or by ending the child, never in the server;
- a CPU-time limit per file (RLIMIT_CPU, `parse_cpu_s`, moved up before each file by
  what the child already spent): the kernel ends the child with SIGXCPU, wherever it
  is spinning;
- a wall-clock limit per file (`parse_wall_s`): the parent kills a child that neither
  finishes nor spends CPU.

OCR (qa.ingest.ocr) is slow by nature, seconds a page, and bounded by its own limits
(pages, pixels, `ocr_max_seconds`). When a file's OCR starts, the child reports it
and is given that much more wall time, and as much more CPU time per core (onnxruntime
computes on every core): the parsing limits stay tight for the parsers that could spin.
The child passes each page's progress to the parent, which reports it to the hook of
qa.ingest.ocr.progress set there (a job's status).

A file over a limit fails with a LoaderError naming the file, the limit and its setting;
the next file gets a new child. The child is otherwise kept for the next files and jobs
(starting one, a Python interpreter importing the parsing libraries, takes about 0.4 s),
and replaced once its address space passes half the limit, so that what earlier files
left in its heap never counts against a later one. It is a fresh interpreter rather than
a multiprocessing child: those re-run the host program's main script, which `qa serve`
guards but an embedding program need not.

The child parses with the API process's loader table, `qa.ingest.loaders.LOADERS`, which
it receives (each loader by reference, with the parent's `sys.path`) when it starts: what
the upload route accepts is what the child reads, including a format registered in that
table at run time (the tests register deliberately hostile ones there).

Only parsing runs in the child: chunking, embedding and the store's writes work on the
Documents it returns, in the API process. `qa ingest` parses in its own process, as an
operator's command on the operator's files.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from qa.errors import LoaderError, QAError
from qa.ingest import loaders
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.ocr import progress
from qa.records import Document
from qa.settings import Settings

log = logging.getLogger(__name__)

_STOP_S = 5.0
_START_S = 60.0


@dataclass(frozen=True)
class ParseLimits:
    cpu_s: int
    wall_s: float
    memory_mb: int
    files: LoaderLimits

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        return cls(
            cpu_s=settings.parse_cpu_s,
            wall_s=settings.parse_wall_s,
            memory_mb=settings.parse_memory_mb,
            files=LoaderLimits.from_settings(settings),
        )


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    requests: Connection
    replies: Connection


class IsolatedReader:
    """A `FileReader` for the Ingestor that parses in a child process. Used by one
    thread at a time (the ingestion worker); `close` ends the child."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self._child: _Child | None = None

    def __call__(self, path: Path, document_id: str, *, max_bytes: int) -> list[Document]:
        child = self._running(document_id)
        ocr = self.limits.files.ocr
        deadline = time.monotonic() + self.limits.wall_s
        ocr_started = False
        with contextlib.suppress(OSError):  # it died: the reply below is the end of the pipe
            child.requests.send((path, document_id, max_bytes, self.limits.files))
        while True:
            try:
                answered = child.replies.poll(max(0.0, deadline - time.monotonic()))
            except OSError:
                answered = True
            if not answered:
                self.close(kill=True)
                if ocr is not None and ocr_started:
                    allowed = f"{self.limits.wall_s + ocr.max_seconds:g} s with its OCR "
                    settings = "QA_PARSE_WALL_S + QA_OCR_MAX_SECONDS"
                else:
                    allowed, settings = f"{self.limits.wall_s:g} s ", "QA_PARSE_WALL_S"
                raise LoaderError(
                    f"{document_id}: reading it took longer than {allowed}({settings})"
                )
            try:
                message = child.replies.recv()
            except (EOFError, OSError):
                self.close(kill=True)
                raise LoaderError(
                    self._ended(document_id, child.process.returncode, ocr_started)
                ) from None
            if message[0] != "progress":
                break
            _, done, total = message
            if done == 0 and ocr is not None and not ocr_started:
                ocr_started = True
                deadline += ocr.max_seconds
            progress.report(document_id, done, total)
        kind, value, address_space = message
        if address_space > (self.limits.memory_mb << 20) // 2:
            self.close()
        if kind == "memory":
            raise LoaderError(
                f"{document_id}: reading it needs more than the {self.limits.memory_mb} MB "
                "a file may use (QA_PARSE_MEMORY_MB)"
            )
        if kind == "error":
            raise LoaderError(value)
        if kind == "raise":
            raise value
        documents: list[Document] = value
        return documents

    def close(self, *, kill: bool = False) -> None:
        if self._child is None:
            return
        child, self._child = self._child, None
        if not kill:
            with contextlib.suppress(OSError):  # already gone
                child.requests.send(None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(_STOP_S)
        if child.process.poll() is None:
            child.process.kill()
        child.process.wait()
        child.requests.close()
        child.replies.close()

    def _running(self, document_id: str) -> _Child:
        if self._child is None:
            their_requests, our_requests = os.pipe()
            our_replies, their_replies = os.pipe()
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(their_requests), str(their_replies),
                 str(self.limits.memory_mb << 20), str(self.limits.cpu_s)],
                pass_fds=(their_requests, their_replies),
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            os.close(their_requests)
            os.close(their_replies)
            requests = Connection(our_requests, readable=False)
            requests.send((sys.path, dict(loaders.LOADERS)))
            self._child = _Child(process, requests, Connection(our_replies, writable=False))
            self._await_ready(self._child, document_id)
        return self._child

    def _await_ready(self, child: _Child, document_id: str) -> None:
        """A new child's start (an interpreter importing the parsing libraries: 0.8 s
        here, seconds on a busy machine) is not the file's parsing time: its wall clock
        starts once the child says it is ready, within a start limit of its own."""
        replies = child.replies
        try:
            ready = replies.poll(_START_S) and replies.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.close(kill=True)
            raise LoaderError(
                f"{document_id}: the parsing process did not start within {_START_S:g} s"
            )

    def _ended(self, document_id: str, code: int | None, ocr_started: bool) -> str:
        if code == -signal.SIGXCPU:
            more = " and QA_OCR_MAX_SECONDS a core for its OCR" if ocr_started else ""
            return (
                f"{document_id}: reading it used more than {self.limits.cpu_s} s of CPU time "
                f"(QA_PARSE_CPU_S{more})"
            )
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
        log.warning("the process reading %s ended (%s)", document_id, how)
        return (
            f"{document_id}: the process reading it ended ({how}); a file may use at most "
            f"{self.limits.memory_mb} MB (QA_PARSE_MEMORY_MB)"
        )


def _address_space() -> int:
    """This process's virtual memory size in bytes: what RLIMIT_AS bounds."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _relay(replies: Connection, limits: LoaderLimits) -> progress.PageProgress:
    """The child's progress hook: OCR starting gets its CPU time; each report goes to the
    parent."""

    def relay(document_id: str, done: int, total: int) -> None:
        if done == 0 and limits.ocr is not None:
            soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
            more = soft + math.ceil(limits.ocr.max_seconds * (os.cpu_count() or 1))
            if hard != resource.RLIM_INFINITY:
                more = min(more, hard)
            resource.setrlimit(resource.RLIMIT_CPU, (more, hard))
        replies.send(("progress", done, total))

    return relay


def _serve(requests: Connection, replies: Connection, memory_bytes: int, cpu_s: int) -> None:
    """The child: takes the parent's loader table, limits itself, then reads files until
    told to stop (or the parent is gone)."""
    path_list, table = requests.recv()
    sys.path[:] = path_list
    loaders.LOADERS.update(table)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    replies.send(("ready",))
    while True:
        try:
            request = requests.recv()
        except EOFError:
            return  # the parent is gone
        if request is None:
            return
        path, document_id, max_bytes, limits = request
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_s
        if cpu_hard != resource.RLIM_INFINITY:
            cpu = min(cpu, cpu_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard))
        reply: tuple[str, object]
        try:
            with progress.reporting(_relay(replies, limits)):
                documents = list(
                    loaders.load(path, document_id, max_bytes=max_bytes, limits=limits)
                )
            reply = ("ok", documents)
        except LoaderError as exc:
            reply = ("memory" if isinstance(exc.__cause__, MemoryError) else "error", exc.detail)
        except QAError as exc:
            reply = ("raise", exc)  # as it would have left loaders.load in the parent
        replies.send((*reply, _address_space()))


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
