"""Optional second-stage reranker: a local cross-encoder folder scores (query, passage) pairs.

None ships (no installable cross-encoder package exists offline); a user points
`QA_RERANKER` at any sentence-transformers CrossEncoder folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from qa.errors import ModelNotAvailableError


class Reranker(Protocol):
    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        """Higher is more relevant; comparable within one query only."""
        ...


class CrossEncoderReranker:
    def __init__(self, folder: Path, *, batch_size: int = 16) -> None:
        from sentence_transformers import CrossEncoder

        if not (folder / "config.json").is_file():
            raise ModelNotAvailableError(f"reranker folder {folder} has no config.json")
        self._model = CrossEncoder(str(folder), device="cpu", local_files_only=True)
        self._batch_size = batch_size

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        predicted = self._model.predict(
            [(query, p) for p in passages], batch_size=self._batch_size, show_progress_bar=False
        )
        return [float(s) for s in predicted]
