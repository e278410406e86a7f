"""Uploaded files parsed in a child process under resource limits.

The loaders are the part of ingestion that reads hostile input: a crafted file can make
a parser spin (a regular expression backtracking inside C, holding the GIL) or allocate
without end (a decompression bomb). In the API process one such file stalls every
request or takes the process down. So an ingestion job parses its files in a child
process, one file at a time, with

- an address-space limit (RLIMIT_AS, `parse_memory_mb`): an allocation past it fails
  in the child, as a MemoryError or by ending the child, never in the server;
- a CPU-time limit per file (RLIMIT_CPU, `parse_cpu_s`): the kernel ends the child with
  SIGXCPU, wherever it is spinning;
- a wall-clock limit per file (`parse_wall_s`): the parent kills a child that neither
  finishes nor spends CPU.

A file over a limit fails with a LoaderError naming the file, the limit and its setting;
the job goes on with its next file in a new child. Children are forked from
multiprocessing's fork server, which imports the loaders once for the whole process: a
job's child starts in milliseconds rather than the 0.7 s of a fresh interpreter
importing the parsing libraries. One child reads all of a job's files, its CPU limit
moved up by what it already spent before each one.

The child parses with the API process's loader table, `qa.ingest.loaders.LOADERS`, which
it receives (each loader by reference) when it starts: what the upload route accepts is
what the child reads, including a format registered in that table at run time (the
tests register deliberately hostile ones there).

Only parsing runs in the child: chunking, embedding and the store's writes work on the
Documents it returns, in the API process. `qa ingest` parses in its own process, as an
operator's command on the operator's files.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import resource
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType

from qa.errors import LoaderError, QAError
from qa.ingest import loaders
from qa.ingest.loaders.limits import LoaderLimits
from qa.records import Document
from qa.settings import Settings

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
# Imported once by the fork server, before it forks any child.
_CONTEXT.set_forkserver_preload(["qa.ingest.loaders"])
_STOP_S = 5.0


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


class IsolatedReader:
    """Reads one job's files in a child process: a `FileReader` for the Ingestor. Close
    it (or use it as a context manager) to end the child."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self._child: tuple[BaseProcess, Connection] | None = None

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def __call__(self, path: Path, document_id: str, *, max_bytes: int) -> list[Document]:
        process, conn = self._running()
        try:
            conn.send((path, document_id, max_bytes, self.limits.files, self.limits.cpu_s))
            answered = conn.poll(self.limits.wall_s)
        except OSError:
            answered = True  # it died: the reply below is the EOF
        if not answered:
            self.close(kill=True)
            raise LoaderError(
                f"{document_id}: reading it took longer than {self.limits.wall_s:g} s "
                "(QA_PARSE_WALL_S)"
            )
        try:
            kind, value = conn.recv()
        except (EOFError, OSError):
            self.close(kill=True)
            raise LoaderError(self._ended(document_id, process.exitcode)) from None
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
        process, conn = self._child
        self._child = None
        if not kill:
            with contextlib.suppress(OSError):  # already gone
                conn.send(None)
            process.join(_STOP_S)
        if process.is_alive():
            process.kill()
        process.join()
        conn.close()

    def _running(self) -> tuple[BaseProcess, Connection]:
        if self._child is None:
            ours, theirs = _CONTEXT.Pipe()
            process = _CONTEXT.Process(
                target=_serve,
                args=(theirs, dict(loaders.LOADERS), self.limits.memory_mb << 20),
                name="qa-parse",
                daemon=True,
            )
            process.start()
            theirs.close()
            self._child = (process, ours)
        return self._child

    def _ended(self, document_id: str, code: int | None) -> str:
        if code == -signal.SIGXCPU:
            return (
                f"{document_id}: reading it used more than {self.limits.cpu_s} s of CPU time "
                "(QA_PARSE_CPU_S)"
            )
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
        log.warning("the process reading %s ended (%s)", document_id, how)
        return (
            f"{document_id}: the process reading it ended ({how}); a file may use at most "
            f"{self.limits.memory_mb} MB (QA_PARSE_MEMORY_MB)"
        )


def _serve(conn: Connection, table: dict[str, loaders.Loader], memory_bytes: int) -> None:
    """The child: limits itself, then reads files until told to stop."""
    loaders.LOADERS.update(table)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    while (request := conn.recv()) is not None:
        path, document_id, max_bytes, limits, cpu_s = request
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_s
        if cpu_hard != resource.RLIM_INFINITY:
            cpu = min(cpu, cpu_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard))
        try:
            documents = list(loaders.load(path, document_id, max_bytes=max_bytes, limits=limits))
        except LoaderError as exc:
            conn.send(("memory" if isinstance(exc.__cause__, MemoryError) else "error", exc.detail))
        except QAError as exc:
            conn.send(("raise", exc))  # as it would have left loaders.load in the parent
        else:
            conn.send(("ok", documents))
