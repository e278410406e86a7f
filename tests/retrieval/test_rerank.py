"""The optional reranker stage, with a tiny cross-encoder the test builds itself."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor
from qa.models.reranker import CrossEncoderReranker
from qa.records import SearchHit, SearchRequest, StoredChunk
from qa.retrieval.search import Retriever, rerank
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.faiss.store import FaissStore
from tests.conftest import HashingEmbedder

WORDS = "the bond rent is four weeks tablets every six hours library loans thirty days".split()


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_cross_encoder_scores_each_passage(tiny_cross_encoder: Path) -> None:
    model = CrossEncoderReranker(tiny_cross_encoder)
    passages = ["the bond is four weeks rent", "tablets every six hours", "library loans"]
    scores = model.scores("bond rent", passages)
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
    assert len(set(scores)) == 3, "different passages should score differently"
    assert model.scores("bond rent", passages[1:2]) == pytest.approx(scores[1:2], abs=1e-5)
    assert model.scores("bond rent", []) == []


class ByLength:
    """Prefers longer passages: an order the fused ranking would not produce."""

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        return [float(len(p)) for p in passages]


def hit(row: int, text: str, score: float) -> SearchHit:
    return SearchHit(StoredChunk(row, f"d{row}", 0, 0, len(text), None, None, text, "", {}), score)


def test_rerank_orders_by_the_reranker_and_keeps_fused_scores() -> None:
    hits = [hit(1, "short", 0.9), hit(2, "a much longer passage", 0.5), hit(3, "medium one", 0.7)]
    ranked = rerank(ByLength(), "q", hits)
    assert [h.chunk.row_id for h in ranked] == [2, 3, 1]
    assert [h.score for h in ranked] == [0.5, 0.7, 0.9]
    assert ranked[0].rerank_score == float(len("a much longer passage"))


def test_retriever_reranks_a_deeper_candidate_list(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    records = [{"id": f"r{i}", "text": " ".join(WORDS[i : i + 4])} for i in range(8)]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    store = FaissStore(tmp_path / "idx")
    embedder = HashingEmbedder()
    Ingestor(store, embedder, ChunkerConfig(64, 8), max_file_bytes=10**6).run(
        [data], "c", progress=False
    )
    settings = Settings(index_dir=tmp_path / "idx", reranker=tiny_cross_encoder, rerank_depth=8)
    runtime = Runtime(settings)
    runtime.add_embedder(embedder)
    hits = Retriever(runtime).search(SearchRequest("bond rent weeks", "c", k=3))
    assert len(hits) == 3
    direct = CrossEncoderReranker(tiny_cross_encoder)
    plain = Runtime(settings.model_copy(update={"reranker": None}))
    plain.add_embedder(embedder)
    pool = Retriever(plain).search(SearchRequest("bond rent weeks", "c", k=8))
    expected = sorted(
        zip(direct.scores("bond rent weeks", [h.chunk.text for h in pool]), pool, strict=True),
        key=lambda pair: -pair[0],
    )[:3]
    assert [h.chunk.chunk_id for h in hits] == [h.chunk.chunk_id for _, h in expected]
    assert all(h.rerank_score is not None for h in hits)
