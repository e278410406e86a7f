"""Passage batches on single-threaded streams (qa/models/streams.py), with a stand-in
for the model: which threads ran the batches, with how many OpenMP threads, and what
comes back when one batch fails."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from qa.models import streams
from qa.models.protocols import Vectors

pytest.importorskip("torch")


def test_each_batch_runs_on_a_stream_thread_with_one_openmp_thread() -> None:
    assert streams.available()
    gomp = streams._libgomp()
    assert gomp is not None
    seen: list[tuple[str, int, list[str]]] = []
    lock = threading.Lock()

    def encode(batch: list[str]) -> Vectors:
        with lock:
            seen.append((threading.current_thread().name, gomp.omp_get_max_threads(), batch))
        return np.array([[len(t), 1.0] for t in batch], dtype=np.float32)

    texts = [str(n) * n for n in (4, 1, 6, 3, 5, 2, 7)]
    own = gomp.omp_get_max_threads()
    vectors = streams.encode_in_streams(encode, texts, batch_size=2, streams=2, dimension=2)
    assert vectors[:, 0].tolist() == [len(t) for t in texts]
    assert len(seen) == 4 and {n for _, n, _ in seen} == {1}
    names = {name for name, _, _ in seen}
    assert 1 <= len(names) <= 2 and all(n.startswith("embed-stream") for n in names)
    assert sorted(b for _, _, b in seen) == sorted(
        [["7777777", "666666"], ["55555", "4444"], ["333", "22"], ["1"]]
    )
    assert gomp.omp_get_max_threads() == own  # only the stream threads were limited
    assert not [t for t in threading.enumerate() if t.name.startswith("embed-stream")]


def test_a_failing_batch_fails_the_call() -> None:
    def encode(batch: list[str]) -> Vectors:
        if "bad" in batch:
            raise ValueError("this batch cannot be embedded")
        return np.ones((len(batch), 2), dtype=np.float32)

    texts = ["fine one", "also fine", "bad", "ok"]
    with pytest.raises(ValueError, match="cannot be embedded"):
        streams.encode_in_streams(encode, texts, batch_size=1, streams=2, dimension=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("embed-stream")]
