"""Embedder backend for any local sentence-transformers folder.

Speed-ups, each kept because `scripts/bench_ingest.py` measured it (figures in
docs/PERFORMANCE.md):

- int8 dynamic quantisation of the transformer's linear layers, with one scale per
  output channel (per-tensor scales moved vectors to cosine 0.93 of float32; per
  channel keeps them at about 0.98, and retrieval nDCG@10 within the 1-point bar).
  The weights file is the same, so the recorded fingerprint is too: an index built
  with float32 vectors is still searched correctly with int8 query vectors.
- a warm-up encode at load, so the first request does not pay one-off set-up.
- an LRU cache of query vectors: a repeated question (a retry, a page reload, the
  same search from ask) is not embedded again.
- a few queries go past `encode` through a TorchScript trace of the transformer
  (`qa/models/tracing.py`): 4.0 -> 1.8 ms a query.
- optionally (QA_EMBED_BACKEND=openvino), the transformer exported once to ONNX and run
  by OpenVINO, bfloat16 on CPUs with bfloat16 instructions
  (`qa/models/openvino_encoder.py`), for passages and queries alike: int8's passage
  rate at float32's vectors (cosine 1.0000 against 0.98), but 1.3 ms slower a query
  than the trace. Pooling and normalisation stay the folder's own modules.

sentence-transformers' `encode` already sorts each call's texts by length (less
padding) and runs under `torch.inference_mode`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.models.openvino_encoder import OpenVinoEncoder, Precision, export_encoder
from qa.models.packages import sha256_file
from qa.models.protocols import EmbedderInfo, Vectors
from qa.models.quantization import quantize_int8
from qa.models.streams import available as streams_available
from qa.models.streams import default_streams, encode_in_streams
from qa.models.tracing import trace_encoder

QUERY_CACHE_SIZE = 2048
# Up to this many uncached queries are embedded in one padded batch by `_encode_few`.
FEW_QUERIES = 8


def _weights_fingerprint(folder: Path) -> str:
    """Identity of the weights, so an index built with other weights is caught."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise FileNotFoundError(f"no weights (*.safetensors or *.bin) in {folder}")
    if len(weights) == 1:
        return sha256_file(weights[0])
    return hashlib.sha256("".join(sha256_file(w) for w in weights).encode()).hexdigest()


def _transformer(model: Any) -> Any:
    """The Hugging Face model inside a sentence-transformers folder's first module."""
    return model[0].auto_model.eval()


class QueryCache:
    """A thread-safe least-recently-used map from query text to its vector."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> Vectors | None:
        with self._lock:
            vector = self._items.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._items.move_to_end(text)
            self.hits += 1
            return vector

    def put(self, text: str, vector: Vectors) -> None:
        if self._size <= 0:
            return
        vector = vector.copy()
        vector.flags.writeable = False
        with self._lock:
            self._items[text] = vector
            self._items.move_to_end(text)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


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
        int8: bool = True,
        query_cache: int = QUERY_CACHE_SIZE,
        warm_up: bool = True,
        openvino: tuple[Path, Precision] | None = None,
        streams: int = 0,
    ) -> None:
        """``openvino``: the cache folder and precision to run the transformer on
        OpenVINO with, instead of torch (then ``int8`` does not apply). ``streams``:
        how many single-threaded streams embed passage batches on torch
        (`qa/models/streams.py`); 0 for one per torch thread, 1 for one stream."""
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        int8 = int8 and openvino is None
        self._model = quantize_int8(model) if int8 else model
        self._int8 = int8
        self._batch_size = batch_size
        self._streams = streams
        # The fast tokenizer's Rust object is not for two threads at once, and queries and
        # the embedding streams both tokenize.
        self._tokenize = threading.Lock()
        self._languages = languages
        self._evidence_floor = evidence_floor
        self._paraphrase_floor = paraphrase_floor
        self._queries = QueryCache(query_cache)
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ValueError(f"embedder at {folder} does not report its dimension")
        self._info = EmbedderInfo(
            name=name, dimension=int(dimension), sha256=_weights_fingerprint(folder)
        )
        self._openvino: OpenVinoEncoder | None = None
        self._traced = None
        if openvino is None:
            self._traced = trace_encoder(self._model)
        else:
            cache, precision = openvino
            exported = export_encoder(
                lambda: _transformer(model),
                cache / "embedders" / f"st-{self._info['sha256'][:16]}-onnx",
                marker=self._info["sha256"],
                what=f"{folder} (to ONNX)",
            )
            self._openvino = OpenVinoEncoder(exported, precision=precision, threads=0)
        if warm_up:
            self._encode(["warm-up: the first call sets up kernels and buffers."], False)
            self._encode_few(["warm-up: and the short path for queries."])

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    @property
    def int8(self) -> bool:
        return self._int8

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

    @property
    def query_cache(self) -> QueryCache:
        return self._queries

    def count_tokens(self, text: str) -> int:
        with self._tokenize:
            return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, texts: Sequence[str], progress: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self._info["dimension"]), dtype=np.float32)
        if self._openvino is not None:
            return self._encode_sorted(texts)
        streams = min(self._streams or default_streams(), -(-len(texts) // self._batch_size))
        if streams > 1 and streams_available():
            return encode_in_streams(
                self._encode_few,
                texts,
                batch_size=self._batch_size,
                streams=streams,
                dimension=self._info["dimension"],
                progress=progress,
            )
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

    def _encode_few(self, texts: Sequence[str]) -> Vectors:
        """A handful of queries, or one batch of a stream, through the model's own
        modules, without `encode`'s batching machinery, and through the traced
        transformer when there is one."""
        import torch

        with torch.inference_mode():
            with self._tokenize:
                features = self._model.preprocess(list(texts))
            if self._openvino is not None:
                hidden = self._openvino.hidden(
                    features["input_ids"].numpy(), features["attention_mask"].numpy()
                )
                features["token_embeddings"] = torch.from_numpy(hidden)
                for module in list(self._model)[1:]:
                    features = module(features)
            elif self._traced is None:
                features = self._model(features)
            else:
                features["token_embeddings"] = self._traced(
                    features["input_ids"], features["attention_mask"]
                )
                for module in list(self._model)[1:]:  # pooling, normalisation, ...
                    features = module(features)
            vectors = torch.nn.functional.normalize(features["sentence_embedding"].float(), dim=1)
        return np.ascontiguousarray(vectors.numpy(), dtype=np.float32)

    def _encode_sorted(self, texts: Sequence[str]) -> Vectors:
        """Batches of texts of about one length (as `encode` makes them), each through
        the short path."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self._info["dimension"]), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            vectors[batch] = self._encode_few([texts[i] for i in batch])
        return vectors

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._info["dimension"]), dtype=np.float32)
        cached = {t: v for t in set(texts) if (v := self._queries.get(t)) is not None}
        missing = sorted(set(texts) - cached.keys())
        if missing:
            if len(missing) <= FEW_QUERIES:
                vectors = self._encode_few(missing)
            else:
                vectors = self._encode(missing, False)
            for text, vector in zip(missing, vectors, strict=True):
                self._queries.put(text, vector)
                cached[text] = vector
        return np.ascontiguousarray(np.vstack([cached[t] for t in texts]), dtype=np.float32)
