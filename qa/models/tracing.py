"""A TorchScript trace of a sentence-transformers model's transformer, for short queries.

A query of a dozen tokens costs per-operator overhead (eager PyTorch dispatch and Hugging
Face's Python modules), not arithmetic. Traced and frozen, MiniLM's int8 encoder embedded
a query in 1.8 ms instead of 4.0 on 2 cores, with the same vectors (docs/PERFORMANCE.md).
Batches of passages are bound by arithmetic and gained nothing, so they stay eager.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

log = logging.getLogger(__name__)

# Inputs of two lengths, so the trace sees padding: Hugging Face skips an all-ones
# attention mask, and a graph traced without one would ignore padding forever after.
_EXAMPLE = ["a short query", "a longer query, so that the first one of the pair is padded"]
_PROBE = ["what does the probe say?", "a probe of yet another length " * 6, "x"]


def trace_encoder(model: Any) -> Any | None:
    """The model's transformer as a frozen TorchScript graph taking (input_ids,
    attention_mask) and giving token embeddings, or None where tracing does not apply
    or the graph disagrees with the eager model on inputs of other lengths."""
    import torch

    try:
        auto = getattr(model[0], "auto_model", None)
    except (TypeError, IndexError, KeyError):
        return None
    if not isinstance(auto, torch.nn.Module):
        return None

    class Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    try:
        example = model.preprocess(_EXAMPLE)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about Python-side shape checks
            traced = torch.jit.freeze(
                torch.jit.trace(
                    Encoder(auto).eval(),
                    (example["input_ids"], example["attention_mask"]),
                    strict=False,
                    check_trace=False,
                )
            )
            for texts in (_PROBE, _PROBE[:1]):
                features = model.preprocess(texts)
                eager = auto(
                    input_ids=features["input_ids"], attention_mask=features["attention_mask"]
                )[0]
                graph = traced(features["input_ids"], features["attention_mask"])
                mask = features["attention_mask"].unsqueeze(-1).bool()
                if not torch.allclose(eager * mask, graph * mask, atol=1e-4):
                    log.warning("traced encoder disagrees with the eager model; not used")
                    return None
    except Exception as exc:  # any model the tracer cannot follow keeps the eager path
        log.warning("could not trace the embedder (%s); queries use the eager model", exc)
        return None
    return traced
