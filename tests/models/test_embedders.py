"""The embedder speed-ups kept by scripts/bench_ingest.py: int8, warm-up, query cache,
and the short path for a few queries."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.models.protocols import EmbedderInfo
from qa.models.quantization import quantize_int8
from qa.models.st_embedder import (
    FEW_QUERIES,
    QueryCache,
    SentenceTransformerEmbedder,
)
from qa.models.tracing import trace_encoder


class FakeModel:
    """Stands in for a SentenceTransformer: a vector that encodes the text, and a log."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.forwards = 0  # calls that came past `encode`, through the modules

    def encode(self, texts: Sequence[str], **kwargs: Any) -> Any:
        self.calls.append(list(texts))
        rows = np.zeros((len(texts), 4), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i] = [len(text), sum(map(ord, text)) % 97, text.count("a"), 1.0]
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def preprocess(self, texts: list[str]) -> dict[str, list[str]]:
        return {"texts": texts}

    def __call__(self, features: dict[str, list[str]]) -> dict[str, Any]:
        import torch

        self.forwards += 1
        return {"sentence_embedding": torch.from_numpy(self.encode(features["texts"]))}


def fake_embedder(cache_size: int = 8) -> tuple[SentenceTransformerEmbedder, FakeModel]:
    embedder = SentenceTransformerEmbedder.__new__(SentenceTransformerEmbedder)
    model = FakeModel()
    embedder._model = model
    embedder._batch_size = 32
    embedder._streams = 1
    embedder._tokenize = threading.Lock()
    embedder._queries = QueryCache(cache_size)
    embedder._traced = None
    embedder._openvino = None
    embedder._info = EmbedderInfo(name="fake", dimension=4, sha256="0" * 64)
    return embedder, model


def test_query_cache_is_least_recently_used() -> None:
    cache = QueryCache(2)
    one = np.ones(3, dtype=np.float32)
    cache.put("a", one)
    cache.put("b", 2 * one)
    assert cache.get("a") is not None  # "a" now most recent
    cache.put("c", 3 * one)  # evicts "b"
    assert cache.get("b") is None
    assert np.array_equal(cache.get("c"), 3 * one)  # type: ignore[arg-type]
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (2, 1)
    stored = cache.get("a")
    assert stored is not None and not stored.flags.writeable  # callers cannot corrupt it
    one[:] = 7  # nor can the array that was put in
    assert np.array_equal(cache.get("a"), np.ones(3, dtype=np.float32))  # type: ignore[arg-type]


def test_cached_queries_come_back_in_the_asked_order() -> None:
    embedder, model = fake_embedder()
    expected = {t: model.encode([t])[0] for t in ["alpha", "beta", "gamma"]}
    model.calls.clear()
    first = embedder.embed_queries(["beta", "alpha"])
    assert np.allclose(first, [expected["beta"], expected["alpha"]])
    mixed = embedder.embed_queries(["gamma", "alpha", "beta", "gamma"])
    assert np.allclose(mixed, [expected[t] for t in ["gamma", "alpha", "beta", "gamma"]])
    assert model.calls == [["alpha", "beta"], ["gamma"]]  # each text embedded once
    again = embedder.embed_queries(["alpha"])
    assert model.calls == [["alpha", "beta"], ["gamma"]]
    again[0, 0] = 99.0  # the returned array is the caller's own
    assert np.allclose(embedder.embed_queries(["alpha"]), [expected["alpha"]])
    assert embedder.embed_queries([]).shape == (0, 4)


def test_a_few_queries_skip_encode_and_many_go_through_it() -> None:
    embedder, model = fake_embedder(cache_size=64)
    few = [f"q{i}" for i in range(FEW_QUERIES)]
    embedder.embed_queries(few)
    assert model.forwards == 1
    many = [f"other {i}" for i in range(FEW_QUERIES + 1)]
    vectors = embedder.embed_queries(many)
    assert model.forwards == 1 and model.calls[-1] == sorted(many)
    assert np.allclose(vectors, model.encode(many))


def test_passages_in_streams_come_back_in_their_order() -> None:
    """Two streams, batches of four: each batch once through the model, longest texts
    first, and every vector back in its text's row."""
    embedder, model = fake_embedder()
    embedder._streams, embedder._batch_size = 2, 4
    texts = [("a" * n) + f"text {n}" for n in (3, 9, 1, 12, 5, 7, 11, 2, 8, 4)]
    vectors = embedder.embed_passages(texts)
    assert np.allclose(vectors, model.encode(texts))
    assert model.forwards == 3
    by_length = sorted(texts, key=len, reverse=True)
    assert sorted(model.calls[:3]) == sorted([by_length[0:4], by_length[4:8], by_length[8:]])
    assert not [t for t in threading.enumerate() if t.name.startswith("embed-stream")]


def test_one_stream_or_one_batch_goes_through_encode() -> None:
    embedder, model = fake_embedder()
    embedder._batch_size = 4
    texts = [f"text {n}" for n in range(10)]
    embedder.embed_passages(texts)  # one stream
    embedder._streams = 2
    embedder.embed_passages(texts[:4])  # two streams, but one batch
    assert model.forwards == 0 and model.calls == [texts, texts[:4]]


def test_a_model_that_cannot_be_traced_keeps_the_eager_path() -> None:
    assert trace_encoder(FakeModel()) is None


def test_a_zero_size_cache_embeds_every_time() -> None:
    embedder, model = fake_embedder(cache_size=0)
    embedder.embed_queries(["x"])
    embedder.embed_queries(["x"])
    assert model.calls == [["x"], ["x"]]


def test_quantize_int8_replaces_linear_layers() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    x = torch.randn(16, 64)
    with torch.inference_mode():
        exact = model(x)
        quantised = quantize_int8(model)
        approx = quantised(x)
    assert not any(type(m) is torch.nn.Linear for m in quantised.modules())
    cosine = torch.nn.functional.cosine_similarity(exact, approx, dim=1)
    assert float(cosine.min()) > 0.99


@pytest.mark.slow
def test_int8_minilm_keeps_the_ranking() -> None:
    from qa.models.embedders import embedder_folder

    _, folder = embedder_folder("minilm")
    fp32 = SentenceTransformerEmbedder(Path(folder), "minilm", int8=False, warm_up=False)
    int8 = SentenceTransformerEmbedder(Path(folder), "minilm")
    passages = [
        "A landlord must not require a bond of more than four weeks' rent.",
        "The library lends books for 21 days; renewals are allowed twice.",
        "Coronaviruses are enveloped RNA viruses that infect birds and mammals.",
        "Late submissions lose five percent of the mark per day.",
    ]
    queries = ["How much bond can a landlord ask for?", "What kind of virus is a coronavirus?"]
    p32, p8 = fp32.embed_passages(passages), int8.embed_passages(passages)
    assert float((p32 * p8).sum(axis=1).min()) > 0.95
    q32, q8 = fp32.embed_queries(queries), int8.embed_queries(queries)
    assert ((q32 @ p32.T).argmax(axis=1) == (q8 @ p8.T).argmax(axis=1)).all()
    # Queries take the short, traced path past `encode`; it must give encode's vectors,
    # alone and padded in a batch of other lengths.
    assert int8._traced is not None and fp32._traced is not None
    assert np.allclose(fp32.embed_queries(queries), fp32.embed_passages(queries), atol=1e-5)
    mixed = ["x", "a much longer question about the bond a landlord may ask for " * 3]
    assert np.allclose(int8.embed_queries(mixed), int8.embed_passages(mixed), atol=1e-5)
    assert np.allclose(q8, int8.embed_passages(queries), atol=1e-5)
    assert np.allclose(np.linalg.norm(q8, axis=1), 1.0, atol=1e-5)
    assert int8.info == fp32.info  # same weights file: indexes stay compatible
