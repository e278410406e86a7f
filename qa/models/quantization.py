"""int8 dynamic quantisation shared by the embedder and the generator.

On these CPUs (AVX-512 VNNI) fbgemm's int8 matrix products run at about twice the
float32 rate, and the weights take a quarter of the memory bandwidth, which is what
bounds decoding. Scales are per output channel: one scale per tensor moved MiniLM's
vectors to cosine 0.93 of float32, per channel keeps them at 0.98
(docs/PERFORMANCE.md).
"""

from __future__ import annotations

import warnings
from typing import Any


def quantize_int8(model: Any, *, inplace: bool = False) -> Any:
    """The model with every torch.nn.Linear replaced by a dynamically quantised int8
    one (weights int8 with per-output-channel scales, activations quantised per batch).
    ``inplace`` avoids holding a second float32 copy while a large model converts."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the API still works.
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=inplace
        )
