"""A question opens its collection and its embedder once, whichever entry point it comes
through: validation and lookups happen at the edge, and everything after receives the
opened query. Fast: a hashing embedder and a scripted generator, no model loads."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.answer.pipeline import AskPipeline
from qa.api.app import create_app
from qa.models.protocols import ChatMessage
from qa.records import Document, SearchRequest
from qa.retrieval.search import Retriever
from qa.runtime import Runtime
from qa.settings import Settings
from tests.conftest import HashingEmbedder

BOND = "The bond for a tenancy is at most four weeks of rent. It is held by the board."
PETS = "Tenants may keep a pet with the landlord's written consent."


class ScriptedGenerator:
    """Answers with the bond sentence, which the bond passage supports word for word."""

    name = "scripted"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        yield "The bond for a tenancy is at most four weeks of rent."


@dataclass
class Counted:
    """Calls of the runtime's lookups, by name."""

    calls: dict[str, int] = field(default_factory=dict)

    def wrap(self, target: Any, name: str) -> None:
        original: Callable[..., Any] = getattr(target, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return original(*args, **kwargs)

        setattr(target, name, counting)


def _runtime(index_dir: Path) -> Runtime:
    # Lookups are counted here, not answer quality: no refusal by a confidence that was
    # calibrated on real embedders' score scales, not the hashing one's.
    settings = Settings(index_dir=index_dir, embedder="hashing", audit=False)
    runtime = Runtime(settings.model_copy(update={"confidence_threshold": 0.0}))
    runtime.add_embedder(HashingEmbedder())
    runtime.ingest_documents(
        [Document("bond", BOND), Document("pets", PETS)], "docs", progress=False
    )
    runtime._generator = ScriptedGenerator()
    return runtime


def _count(runtime: Runtime) -> Counted:
    counted = Counted()
    for name in ("collection", "query_embedder", "embedder"):
        counted.wrap(runtime, name)
    for name in ("version", "open", "manifest"):
        counted.wrap(runtime.store, name)
    return counted


ONCE = {"collection": 1, "version": 1, "query_embedder": 1, "embedder": 1}
"""One question's lookups once its collection is open (the store's `open` is cached
until a writer publishes a new generation)."""
FIRST = {**ONCE, "open": 1}


def test_the_pipeline_opens_collection_and_embedder_once(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path / "idx")
    counted = _count(runtime)
    pipeline = AskPipeline(runtime)
    answer = pipeline.ask("How much is the bond?", "docs")
    assert answer.found and answer.citations[0].document == "bond"
    assert counted.calls == FIRST
    counted.calls.clear()
    assert pipeline.ask("Is the bond held by the board?", "docs").found
    assert counted.calls == ONCE


def test_a_sparse_search_loads_no_embedder(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path / "idx")
    counted = _count(runtime)
    hits = Retriever(runtime).search(SearchRequest("bond", "docs", k=2, mode="sparse"))
    assert hits[0].chunk.document_id == "bond"
    assert counted.calls == {"collection": 1, "version": 1, "open": 1}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Counted]]:
    runtime = _runtime(tmp_path / "idx")
    app = create_app(runtime.settings, warm=False)
    with TestClient(app) as client:
        state = app.state.qa
        state.runtime.add_embedder(HashingEmbedder())
        state.runtime._generator = ScriptedGenerator()
        yield client, _count(state.runtime)


@pytest.mark.parametrize("stream", [False, True])
def test_ask_over_http_opens_once(served: tuple[TestClient, Counted], stream: bool) -> None:
    client, counted = served
    body = {"question": "How much is the bond?", "collection": "docs", "stream": stream}
    response = client.post("/v1/ask", json=body)
    assert response.status_code == 200, response.text
    assert "bond" in response.text
    assert counted.calls == FIRST


def test_search_and_chat_completions_open_once(served: tuple[TestClient, Counted]) -> None:
    client, counted = served
    response = client.post("/v1/search", json={"query": "bond", "collection": "docs"})
    assert response.status_code == 200 and response.json()["results"]
    assert counted.calls == FIRST
    counted.calls.clear()
    body = {"model": "docs", "messages": [{"role": "user", "content": "How much is the bond?"}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert counted.calls == ONCE


def test_bad_input_is_refused_before_any_lookup(served: tuple[TestClient, Counted]) -> None:
    client, counted = served
    response = client.post("/v1/ask", json={"question": "   ", "collection": "docs"})
    assert response.status_code == 422 and "question is empty" in response.json()["detail"]
    assert counted.calls == {}
