"""Loaders that misbehave on purpose, for the parsing child's limits
(qa/ingest/sandbox.py). Tests register them in `qa.ingest.loaders.LOADERS` under made-up
suffixes; the child receives that table by reference, so they run there as the real
loaders do. Kept apart from the test modules so that the child imports nothing else."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

from qa.ingest.loaders.limits import LoaderLimits
from qa.records import Document


def backtrack(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    """Catastrophic backtracking inside `re`, which holds the GIL throughout: about ten
    seconds of one core here (doubling with each further 'a'), during which the API
    process, were it reading the file, would answer nothing."""
    match = re.match(r"(a+)+$", "a" * 28 + "!")
    yield Document(document_id, str(match))


def stall(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    """Waits without spending CPU, as a read from a stuck device would."""
    time.sleep(3600)
    yield Document(document_id, "never read")


def hoard(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    """Allocates (and touches) up to 1 GiB, 32 MiB at a time, as a decompression bomb."""
    held = [bytearray(32 << 20) for _ in range(32)]
    yield Document(document_id, f"{len(held)} blocks")
