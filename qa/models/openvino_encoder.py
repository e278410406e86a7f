"""A BERT-style encoder run by OpenVINO: its bfloat16 kernels on CPUs with bfloat16
instructions read batches of passages 1.2-1.3x faster than torch's (bfloat16 weights or
int8 linear layers) at cosine 0.9999 of float32 (docs/PERFORMANCE.md, "Embedding
backends").

The torch model is exported once to ONNX with torch's own exporter, into the model
cache like every conversion (`qa.models.conversion.build_once`), and OpenVINO's runtime
reads that file. OpenVINO's converter (`openvino.convert_model`) is not used: it
reports each conversion to Google Analytics unless the user opted out in a file under
the home folder, and nothing here may reach the network. Importing `openvino` alone
sets that reporting up too (its package imports the converter, which starts its
telemetry and, without a consent file and outside CI, sends an event from a forked
process), so the import goes through `_openvino`, which hides the telemetry package:
the converter then falls back to its own no-op stub.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from qa.models.conversion import build_once

if TYPE_CHECKING:
    import torch

ONNX_FILE = "encoder.onnx"
Precision = Literal["bfloat16", "float32"]
_OPENVINO_PRECISION = {"bfloat16": "bf16", "float32": "f32"}


def _openvino() -> ModuleType:
    """The `openvino` package, imported with its usage telemetry unable to load (a
    None entry in sys.modules makes `import openvino_telemetry` raise ImportError)."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def infer_request(
    model: Path, *, precision: Precision, threads: int, cache_dir: Path | None = None
) -> Any:
    """An inference request of ``model`` (ONNX or OpenVINO IR) compiled for this CPU for
    latency; ``threads`` 0 leaves the count to OpenVINO. With ``cache_dir`` the compiled
    model is cached there, so a later load skips compiling."""
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": _OPENVINO_PRECISION[precision],
        "PERFORMANCE_HINT": "LATENCY",
    }
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    return _openvino().Core().compile_model(str(model), "CPU", config).create_infer_request()


def export_encoder(
    load: Callable[[], torch.nn.Module], dest: Path, *, marker: str, what: str
) -> Path:
    """The model ``load`` gives (taking input_ids and attention_mask, returning the last
    hidden states first) as an ONNX file in ``dest``, loaded and exported only once."""
    return build_once(dest, lambda out: _export(load(), out / ONNX_FILE), marker=marker, what=what)


def _export(model: torch.nn.Module, path: Path) -> None:
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    example = (torch.ones((2, 8), dtype=torch.long), torch.ones((2, 8), dtype=torch.long))
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            Hidden().eval(),
            example,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["hidden"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
            opset_version=17,
            dynamo=False,
        )


class OpenVinoEncoder:
    """The exported encoder compiled for this CPU. One inference request, used under a
    lock: OpenVINO's requests are not safe to share between threads, and the two cores
    are busy with one batch anyway."""

    def __init__(self, folder: Path, *, precision: Precision, threads: int) -> None:
        self._request = infer_request(folder / ONNX_FILE, precision=precision, threads=threads)
        self._lock = threading.Lock()

    def hidden(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """The last hidden states, (batch, tokens, dimension)."""
        with self._lock:
            self._request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
            return np.array(self._request.get_output_tensor(0).data, dtype=np.float32)


def mean_pooled(
    hidden: npt.NDArray[np.float32], attention_mask: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    weights = attention_mask[..., None].astype(np.float32)
    return np.asarray((hidden * weights).sum(1) / np.maximum(weights.sum(1), 1.0), np.float32)
