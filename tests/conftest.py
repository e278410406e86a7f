"""Shared fixtures: a small deterministic embedder for store tests, and paths."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.models.protocols import EmbedderInfo, Vectors
from qa.tokens import lexical_tokens

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED_DATA = ROOT.parent / "shared" / "data"


class HashingEmbedder:
    """Bag of hashed tokens: similar texts get similar vectors, with no model to load.

    Store and retrieval mechanics do not depend on embedding quality; the tests that
    do (retrieval quality, end to end) load the real packaged models instead.
    """

    def __init__(self, name: str = "hashing", dimension: int = 64) -> None:
        self._info = EmbedderInfo(
            name=name, dimension=dimension, sha256=hashlib.sha256(name.encode()).hexdigest()
        )

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    @property
    def max_tokens(self) -> int:
        return 256

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({"en", "zh"})

    @property
    def evidence_floor(self) -> float:
        return 0.3

    @property
    def paraphrase_floor(self) -> float:
        return 0.55

    def count_tokens(self, text: str) -> int:
        return max(1, len(lexical_tokens(text, unigrams=False)))

    def _one(self, text: str) -> Vectors:
        vector = np.zeros(self._info["dimension"], dtype=np.float32)
        for token in lexical_tokens(text):
            digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % self._info["dimension"]] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, 64), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_passages(texts)


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()
