"""The prompt read by OpenVINO's bfloat16 kernels, the answer decoded by torch.

Why: on 2 cores the time to the first token is the time to read the prompt (about
700-1,000 tokens of passages), a float32 matrix product in torch. On CPUs with bfloat16
instructions OpenVINO reads it about 3x faster. Decoding stays in torch, in float32,
from the keys and values OpenVINO computed: the cache it hands over matches float32's at
cosine 0.99+ per head, where torch's own bfloat16 path was slower than float32 and int8
broke answers (docs/PERFORMANCE.md, "Reading the prompt with OpenVINO").

The model's transformer, without its output head, is exported once to ONNX by torch's
exporter and saved as OpenVINO IR with float16 weights, into the model cache
(`qa.models.conversion.build_once`); compiled models are cached by OpenVINO beside it,
so later loads take seconds. The import goes through `openvino_encoder._openvino`,
which keeps OpenVINO's telemetry from loading.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.models.conversion import build_once
from qa.models.openvino_encoder import _openvino, infer_request

if TYPE_CHECKING:
    import torch

MODEL_XML = "prefill.xml"
COMPILED = "compiled"


def export_prefill(folder: Path, cache_dir: Path) -> Path:
    """The OpenVINO IR of the folder's transformer, returning every layer's keys and
    values for the tokens it reads, converted once into the cache."""
    identity = model_identity(folder)
    return build_once(
        cache_dir / "generators" / f"{folder.name}-{identity[:12]}-ov-prefill",
        lambda out: _export(folder, out),
        marker=identity,
        what=f"{folder.name} for OpenVINO prompt reading",
    )


def model_identity(folder: Path) -> str:
    """A digest of where the model is and of its files' names, sizes and times: two
    user folders of the same name, or a folder whose weights were replaced, never share
    an export."""
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        stat = path.stat()
        digest.update(f"\0{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _export(folder: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    # Eager attention: its causal mask is built from the input's length inside the
    # graph, so one export serves every prompt length.
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=torch.float32, local_files_only=True, attn_implementation="eager"
    ).eval()

    class KeysValues(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.model = transformer

        def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            cache = self.model(input_ids=input_ids, use_cache=True).cache
            return (
                torch.stack([layer.keys for layer in cache.layers]),
                torch.stack([layer.values for layer in cache.layers]),
            )

    onnx = out / "prefill.onnx"
    axes = {"keys": {3: "tokens"}, "values": {3: "tokens"}, "input_ids": {1: "tokens"}}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            KeysValues(model.model).eval(),
            (torch.ones((1, 16), dtype=torch.long),),
            str(onnx),
            input_names=["input_ids"],
            output_names=["keys", "values"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    del model
    ov = _openvino()
    ov.save_model(ov.Core().read_model(str(onnx)), str(out / MODEL_XML), compress_to_fp16=True)
    for path in out.glob("prefill.onnx*"):
        path.unlink()


class OpenVinoPrefill:
    """The exported transformer compiled for this CPU in bfloat16. One inference request
    under a lock: requests are not safe to share between threads, and the generator
    reads one prompt at a time anyway."""

    def __init__(self, folder: Path, *, threads: int) -> None:
        self.folder = folder
        self._request = infer_request(
            folder / MODEL_XML, precision="bfloat16", threads=threads, cache_dir=folder / COMPILED
        )
        self._lock = threading.Lock()

    def read_ahead(self, input_ids: torch.Tensor, config: Any) -> dict[str, Any]:
        """`generate`'s keyword for a prompt: the cache of every token but the last, so
        that `generate` reads the last one itself and decodes from there (nothing for a
        one-token prompt)."""
        if input_ids.shape[1] < 2:
            return {}
        return {"cache": self.cache(input_ids[:, :-1], config)}

    def cache(self, input_ids: torch.Tensor, config: Any) -> Any:
        """A transformers cache holding the keys and values of ``input_ids`` (one row),
        ready for `generate` to go on from."""
        import torch
        from transformers import DynamicCache

        with self._lock:
            self._request.infer({"input_ids": input_ids.numpy().astype(np.int64)})
            keys = torch.from_numpy(np.array(self._request.get_output_tensor(0).data))
            values = torch.from_numpy(np.array(self._request.get_output_tensor(1).data))
        cache = DynamicCache(config=config)
        for layer in range(keys.shape[0]):
            cache.update(keys[layer], values[layer], layer)
        return cache
