"""Files parsed ahead of the embedder, so that reading and embedding overlap.

Embedding a batch is arithmetic on every core torch is given; reading the next files is
mostly waiting on another process (an upload's parsing child, qa.ingest.sandbox, or the
OCR engines) or on C code that leaves the GIL. A thread of its own keeps that going
while a batch embeds. The queue between them holds at most `depth` files' documents,
so a fast reader never holds a whole corpus in memory ahead of a slow embedder.

The reading thread is the only caller of the reader while it runs (an upload's child
serves one caller at a time); `close` waits for it to finish the file it is on, so
nothing reads for an ingestion that has ended.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Generic, TypeVar, cast

_POLL_S = 0.1
T = TypeVar("T")


@dataclass(frozen=True)
class _Failed:
    """What ended the reading thread other than a file's own LoaderError (a path that
    does not exist, a bug): raised again in the consuming thread."""

    exception: BaseException


_END = object()


class ReadAhead(Generic[T]):
    """`read(file, document_id)` for each of `files`, in their order, up to `depth`
    ahead of the iteration. `read` reports a file's own problems in what it returns;
    anything it raises ends the iteration, raised in the iterating thread."""

    def __init__(
        self,
        files: Iterable[tuple[Path, str]],
        read: Callable[[Path, str], T],
        *,
        depth: int,
    ) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._files = files
        self._read = read
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # The reader reports progress through context variables (a job's OCR pages): it
        # sees the caller's.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="qa-read-ahead", daemon=True
        )

    def __enter__(self) -> ReadAhead[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[T]:
        if self._thread.ident is None:
            raise RuntimeError("use ReadAhead as a context manager")
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exception
            yield cast(T, item)

    def close(self) -> None:
        """Stop reading and wait for the thread: it ends after the file it is on."""
        self._stop.set()
        if self._thread.ident is None:
            return
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # room for a put blocked on a full queue
                self._queue.get(timeout=_POLL_S)
        self._thread.join()

    def _run(self) -> None:
        try:
            for file, document_id in self._files:
                if self._stop.is_set() or not self._put(self._read(file, document_id)):
                    return
        except BaseException as exc:  # handed to the iterating thread, raised there
            self._put(_Failed(exc))
            return
        self._put(_END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=_POLL_S)
                return True
        return False
