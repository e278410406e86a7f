"""Passage batches embedded by several single-threaded streams instead of one stream on
every core.

On 2 cores, MiniLM's int8 batches ran at 70.3 chunks/s as one stream on two OpenMP
threads and 91.3 as two Python threads on one OpenMP thread each, with the same vectors
(`scripts/bench_embed.py`, docs/PERFORMANCE.md, "Two embedding streams"). The likely
cause, not measured apart: a batch's layers are small parallel regions, and the two
threads of one stream wait for each other between them, where two streams never do.
Torch ops release the GIL, so Python threads suffice.

Each stream's thread asks libgomp for one thread (its own setting, not the process's),
so it never starts an OpenMP team, and the threads end with the call: nothing lingers
to slow the next query (see "OpenMP teams" in docs/PERFORMANCE.md).
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np

from qa.models.protocols import Vectors

log = logging.getLogger(__name__)


@cache
def _libgomp() -> ctypes.CDLL | None:
    """The OpenMP runtime torch's kernels use (the copy in its wheel), or None where
    torch was built against another one (macOS's libomp)."""
    import torch

    found = sorted((Path(torch.__file__).parent / "lib").glob("libgomp*.so*"))
    if not found:
        log.info("torch carries no libgomp: passages are embedded as one stream")
        return None
    return ctypes.CDLL(str(found[0]))


def available() -> bool:
    return _libgomp() is not None


def one_openmp_thread() -> None:
    """This thread's parallel regions run on it alone: no team is started for it."""
    gomp = _libgomp()
    if gomp is not None:
        gomp.omp_set_num_threads(1)


def default_streams() -> int:
    """One stream per torch thread: the cores the process was given."""
    import torch

    return max(1, torch.get_num_threads())


def encode_in_streams(
    encode: Callable[[list[str]], Vectors],
    texts: Sequence[str],
    *,
    batch_size: int,
    streams: int,
    dimension: int,
    progress: bool = False,
) -> Vectors:
    """``texts`` longest first in batches of ``batch_size``, each batch through
    ``encode`` on one of ``streams`` threads; the vectors come back in the order of
    ``texts``. The batches are those sentence-transformers' `encode` makes (the same
    sort, ties included): int8 quantises each batch's activations on that batch's own
    scale, so the same batches give one stream's vectors."""
    order = np.argsort([-len(t) for t in texts])
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(batches), desc="Batches", unit="batch")
    with ThreadPoolExecutor(
        max_workers=streams, thread_name_prefix="embed-stream", initializer=one_openmp_thread
    ) as pool:
        futures = [pool.submit(encode, [texts[i] for i in batch]) for batch in batches]
        try:
            for batch, future in zip(batches, futures, strict=True):
                vectors[batch] = future.result()
                if bar is not None:
                    bar.update()
        finally:
            for future in futures:
                future.cancel()
            if bar is not None:
                bar.close()
    return vectors
