"""Embedder backend for any local sentence-transformers folder."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.models.packages import sha256_file
from qa.models.protocols import EmbedderInfo, Vectors


def _weights_fingerprint(folder: Path) -> str:
    """Identity of the weights, so an index built with other weights is caught."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise FileNotFoundError(f"no weights (*.safetensors or *.bin) in {folder}")
    if len(weights) == 1:
        return sha256_file(weights[0])
    return hashlib.sha256("".join(sha256_file(w) for w in weights).encode()).hexdigest()


class SentenceTransformerEmbedder:
    def __init__(
        self,
        folder: Path,
        name: str,
        *,
        languages: frozenset[str] = frozenset({"en", "zh"}),
        evidence_floor: float = 0.3,
        paraphrase_floor: float = 0.55,
        batch_size: int = 32,
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self._languages = languages
        self._evidence_floor = evidence_floor
        self._paraphrase_floor = paraphrase_floor
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ValueError(f"embedder at {folder} does not report its dimension")
        self._info = EmbedderInfo(
            name=name, dimension=int(dimension), sha256=_weights_fingerprint(folder)
        )

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    @property
    def max_tokens(self) -> int:
        return int(self._model.max_seq_length or 256)

    @property
    def languages(self) -> frozenset[str]:
        return self._languages

    @property
    def evidence_floor(self) -> float:
        return self._evidence_floor

    @property
    def paraphrase_floor(self) -> float:
        return self._paraphrase_floor

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, texts: Sequence[str], progress: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self._info["dimension"]), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        return self._encode(texts, progress)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, False)
