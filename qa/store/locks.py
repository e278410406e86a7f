"""Exclusive file locks with a bounded wait.

`flock` itself either waits for good or not at all; a request thread must not wait for
good behind an ingestion that holds a collection's lock for minutes, so a bounded wait
polls the non-blocking form until its deadline."""

from __future__ import annotations

import fcntl
import time
from typing import IO, Any

POLL_S = 0.02


def flock_within(file: IO[Any], wait_s: float | None) -> bool:
    """Lock `file` exclusively: True once held, False if another holder kept it for
    `wait_s` seconds (None: wait as long as it takes)."""
    if wait_s is None:
        fcntl.flock(file, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
