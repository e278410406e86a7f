"""The OpenAI-compatible endpoints, driven by the official `openai` client over HTTP.

Fast: the app in a uvicorn thread with a scripted pipeline in place of the models, for
the wire format, errors and keys. Slow: `qa serve` with the `fast` generator over the
sample corpus, for one real answer, streamed and not.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from fastapi import FastAPI

from qa.api.app import create_app
from qa.errors import RequestTimeoutError
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor
from qa.records import Answer, Citation, Turn
from qa.retrieval.context import QueryContext
from qa.settings import Settings
from qa.store.faiss.store import FaissStore
from tests.conftest import CORPUS, ROOT, HashingEmbedder, qa_serve

QUOTE = "A landlord must not require a bond of more than 4 weeks' rent."
CITATION = Citation(
    n=1,
    document="tenancy/act.md",
    chunk_id="tenancy/act.md#3",
    page=2,
    text=f"Section 12. {QUOTE}",
    quote=QUOTE,
    score=0.8,
    quote_start=12,
    quote_end=12 + len(QUOTE),
    title="Act",
    section="Part 2 > Section 12",
)
GROUNDED = "The maximum bond is 4 weeks' rent. [1]"
SOURCES = f"[1] tenancy/act.md, page 2: “{QUOTE}”"
DRAFT = ["The maximum ", "bond is ", "4 weeks' rent."]
REFUSAL = "The documents do not contain an answer to this question."


class ScriptedPipeline:
    """Stands in for AskPipeline: what it yields depends on a word in the question."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int | None, object]] = []
        self.histories: list[Sequence[Turn] | None] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def stream(
        self, query: QueryContext, history: Sequence[Turn] | None = None
    ) -> Generator[str | Answer, None, None]:
        request, question = query.request, query.text
        self.asked.append((question, request.collection, request.k, request.filters))
        self.histories.append(history)
        if "hold" in question:
            self.holding.set()
            assert self.release.wait(30)
        if "timeout" in question:
            yield "Partly "
            raise RequestTimeoutError("no answer within 1 s; generation was stopped")
        if "crash" in question:
            yield "Partly "
            raise RuntimeError("boom")
        if "weather" in question:
            yield Answer(REFUSAL, False, [], "en", {"retrieval_s": 0.01})
            return
        if "unsupported" in question:
            yield from ["The bond ", "is 9 weeks."]
            yield Answer(REFUSAL, False, [], "en", {"retrieval_s": 0.01})
            return
        yield from DRAFT
        yield Answer(GROUNDED, True, [CITATION], "en", {"retrieval_s": 0.01})


class ThreadServer:
    """The app behind a real socket in this process: real HTTP for real clients, while
    the test can still reach into the app's state."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self._socket.close()


def build_collection(index_dir: Path, name: str, records: list[dict[str, Any]]) -> None:
    data = index_dir.parent / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    store = FaissStore(index_dir)
    Ingestor(store, HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=10**6).run(
        [data], name, progress=False
    )


class Fast:
    def __init__(self, server: ThreadServer, pipeline: ScriptedPipeline, keys: dict[str, str]):
        self.server, self.pipeline, self.keys = server, pipeline, keys

    def client(self, key: str = "admin", max_retries: int = 0) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.server.base}/v1",
            api_key=self.keys.get(key, key),
            max_retries=max_retries,
        )


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fast]:
    index_dir = tmp_path_factory.mktemp("openai-fast") / "idx"
    build_collection(index_dir, "docs", [{"id": "a", "text": "The bond is four weeks."}])
    build_collection(index_dir, "other", [{"id": "b", "text": "Tablets every six hours."}])
    # No queue: a second question while one is answered gets 503 at once.
    settings = Settings(index_dir=index_dir, generation_queue=0, audit=False)
    app = create_app(settings, warm=False)
    pipeline = ScriptedPipeline()
    with ThreadServer(app) as server:
        state = app.state.qa
        state.runtime.add_embedder(HashingEmbedder())
        state.pipeline = pipeline
        _, admin = state.catalogue.create_key("admin", "admin", ["*"])
        _, reader = state.catalogue.create_key("other-reader", "reader", ["other"])
        yield Fast(server, pipeline, {"admin": admin, "other": reader})


def ask(client: openai.OpenAI, question: str, **options: Any) -> Any:
    return client.chat.completions.create(
        model="docs", messages=[{"role": "user", "content": question}], **options
    )


def test_models_lists_the_collections_the_key_may_read(fast: Fast) -> None:
    models = fast.client().models.list().data
    assert [m.id for m in models] == ["docs", "other"]
    assert all(m.object == "model" and m.owned_by == "qa" for m in models)
    assert all(m.created > 1_600_000_000 for m in models)
    assert [m.id for m in fast.client("other").models.list().data] == ["other"]
    assert fast.client().models.retrieve("docs").id == "docs"
    with pytest.raises(openai.NotFoundError):
        fast.client().models.retrieve("missing")


def test_completion_answers_the_last_user_message_with_sources(fast: Fast) -> None:
    completion = fast.client().chat.completions.create(
        model="docs",
        messages=[
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "What is the late fee?"},
            {"role": "assistant", "content": "10 dollars."},
            {"role": "user", "content": [{"type": "text", "text": "What is the maximum bond?"}]},
        ],
        temperature=0.2,
        max_tokens=50,
        user="someone",
        extra_body={"not_an_openai_field": {"x": 1}},
    )
    top_k = fast.server.app.state.qa.settings.top_k
    assert fast.pipeline.asked[-1] == ("What is the maximum bond?", "docs", top_k, None)
    # The earlier user and assistant messages are the history; the system one is not.
    assert fast.pipeline.histories[-1] == (
        Turn("user", "What is the late fee?"),
        Turn("assistant", "10 dollars."),
    )
    assert completion.id.startswith("chatcmpl-") and len(completion.id) > len("chatcmpl-") + 16
    assert completion.object == "chat.completion" and completion.model == "docs"
    assert abs(completion.created - time.time()) < 60
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == f"{GROUNDED}\n\n{SOURCES}"
    extra = completion.model_extra or {}
    assert extra["found"] is True
    assert extra["citations"][0]["quote"] == QUOTE and extra["citations"][0]["n"] == 1
    assert completion.usage is not None and completion.usage.total_tokens == 0


def test_not_found_completion_is_the_refusal_without_sources(fast: Fast) -> None:
    completion = ask(fast.client(), "What is the weather?")
    assert completion.choices[0].message.content == REFUSAL
    assert (completion.model_extra or {})["found"] is False
    assert (completion.model_extra or {})["citations"] == []


def reasoning(chunk: Any) -> str:
    return (chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or ""


def test_stream_sends_the_draft_as_reasoning_then_the_verified_answer(fast: Fast) -> None:
    """The draft is unverified: a client keeps `content` as the assistant's turn, so only
    the grounded answer and its sources go there."""
    chunks = list(ask(fast.client(), "What is the maximum bond?", stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [reasoning(c) for c in chunks[1:4]] == DRAFT
    contents = [c.choices[0].delta.content or "" for c in chunks]
    assert "".join(contents) == f"{GROUNDED}\n\n{SOURCES}"
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == "docs" for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    assert extra["answer"] == GROUNDED and extra["found"] is True
    assert extra["citations"][0]["chunk_id"] == "tenancy/act.md#3"


def test_stream_ends_with_done_and_reports_usage_when_asked(fast: Fast) -> None:
    events: list[str] = []
    with httpx.stream(
        "POST",
        f"{fast.server.base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {fast.keys['admin']}"},
        json={
            "model": "docs",
            "messages": [{"role": "user", "content": "What is the maximum bond?"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    usage = json.loads(events[-2].removeprefix("data: "))
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 0


def test_stream_of_an_unsupported_draft_leaves_only_the_refusal(fast: Fast) -> None:
    chunks = list(ask(fast.client(), "Is the bond unsupported?", stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == REFUSAL and "9 weeks" not in text
    assert "".join(reasoning(c) for c in chunks) == "The bond is 9 weeks."
    assert (chunks[-1].model_extra or {})["found"] is False


def test_stream_without_a_draft_is_the_refusal(fast: Fast) -> None:
    chunks = list(ask(fast.client(), "What is the weather?", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == REFUSAL


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("Will this timeout?", "no answer within 1 s"),
        ("Will this crash?", "an unexpected error occurred"),
    ],
)
def test_an_error_mid_stream_is_an_error_chunk(fast: Fast, question: str, message: str) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in ask(fast.client(), question, stream=True):
            received.append(reasoning(chunk))
    assert message in raised.value.message
    assert "Partly " in received
    # The admission was released: the next question is answered, not refused with 503.
    assert ask(fast.client(), "What is the maximum bond?").choices[0].message.content


def test_a_timed_out_answer_is_504_and_not_retried_by_the_sdk(fast: Fast) -> None:
    asked = len(fast.pipeline.asked)
    with pytest.raises(openai.InternalServerError, match="no answer within") as raised:
        ask(fast.client(max_retries=2), "Will this timeout?")
    assert raised.value.status_code == 504
    assert len(fast.pipeline.asked) == asked + 1


@pytest.mark.parametrize(
    ("messages", "detail"),
    [
        ([{"role": "system", "content": "Be brief."}], "no message has role 'user'"),
        ([{"role": "user", "content": "  "}], "messages.0.content: the last user message"),
        (
            [
                {"role": "user", "content": "What is the bond?"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
            ],
            "messages.1.content.0: only text parts",
        ),
    ],
)
def test_no_question_is_422(fast: Fast, messages: list[dict[str, Any]], detail: str) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        fast.client().chat.completions.create(model="docs", messages=messages)
    # Our problem+json, with OpenAI's error object added, whose message the SDK shows.
    problem = raised.value.response.json()
    assert problem["status"] == 422 and detail in problem["detail"]
    assert raised.value.response.headers["content-type"] == "application/problem+json"
    assert detail in raised.value.message
    assert raised.value.type == "invalid_request_error"


def test_more_than_one_choice_is_422(fast: Fast) -> None:
    with pytest.raises(openai.UnprocessableEntityError, match="only one choice"):
        ask(fast.client(), "What is the maximum bond?", n=2)


def test_unknown_collection_is_not_found(fast: Fast) -> None:
    with pytest.raises(openai.NotFoundError, match="collection 'missing' does not exist"):
        fast.client().chat.completions.create(
            model="missing", messages=[{"role": "user", "content": "Anything?"}]
        )


def test_keys_are_enforced(fast: Fast) -> None:
    with pytest.raises(openai.AuthenticationError):
        ask(fast.client("qa_wrong_key"), "What is the maximum bond?")
    with pytest.raises(openai.AuthenticationError):
        fast.client("qa_wrong_key").models.list()
    with pytest.raises(openai.PermissionDeniedError, match="may not use collection 'docs'"):
        ask(fast.client("other"), "What is the maximum bond?")


def test_a_full_queue_is_503_with_retry_after(fast: Fast) -> None:
    fast.pipeline.holding.clear()
    fast.pipeline.release.clear()
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(ask(fast.client(), "Please hold the line"))
    )
    first.start()
    try:
        assert fast.pipeline.holding.wait(30)
        with pytest.raises(openai.InternalServerError) as raised:
            ask(fast.client(), "What is the maximum bond?")
        assert raised.value.status_code == 503
        assert raised.value.response.headers["retry-after"] == "5"
        assert "queue is full" in raised.value.message
        # What needs no generation is answered all the same.
        with pytest.raises(openai.NotFoundError):
            fast.client().chat.completions.create(
                model="missing", messages=[{"role": "user", "content": "Anything?"}]
            )
        with pytest.raises(openai.UnprocessableEntityError, match="over the limit"):
            ask(fast.client(), "x" * 5000)
    finally:
        fast.pipeline.release.set()
        first.join(30)
    assert results and results[0].choices[0].message.content == f"{GROUNDED}\n\n{SOURCES}"


def test_an_open_service_takes_the_placeholder_key_openai_clients_send(tmp_path: Path) -> None:
    """With no key configured (loopback), `api_key="unused"` must not be refused: the
    OpenAI SDKs always send some bearer token."""
    index_dir = tmp_path / "idx"
    build_collection(index_dir, "docs", [{"id": "a", "text": "The bond is four weeks."}])
    app = create_app(Settings(index_dir=index_dir, audit=False), warm=False)
    with ThreadServer(app) as server:
        app.state.qa.runtime.add_embedder(HashingEmbedder())
        app.state.qa.pipeline = ScriptedPipeline()
        client = openai.OpenAI(base_url=f"{server.base}/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["docs"]
        reply = ask(client, "What is the maximum bond?").choices[0].message.content
        assert reply == f"{GROUNDED}\n\n{SOURCES}"


# Slow: the real service.

QUESTIONS = [
    json.loads(line)
    for line in (ROOT / "tests" / "fixtures" / "corpus_questions.jsonl").read_text().splitlines()
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update({"QA_GENERATOR": "fast", "HF_HUB_OFFLINE": "1"})
    return env


def _qa(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "qa", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


class Real:
    def __init__(self, base: str, keys: dict[str, str]) -> None:
        self.base, self.keys = base, keys

    def client(self, key: str = "admin") -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.base}/v1", api_key=self.keys.get(key, key), max_retries=0
        )


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Real]:
    index_dir = tmp_path_factory.mktemp("openai-real")
    # MiniLM: the questions asked here are English, and e5 embeds about 14x slower.
    _qa("ingest", str(CORPUS), "--index-dir", str(index_dir), "--embedder", "minilm")
    admin = _qa("keys", "create", "--collections", "*", "--index-dir", str(index_dir)).stdout
    other = _qa("keys", "create", "--collections", "other", "--index-dir", str(index_dir)).stdout
    keys = {"admin": admin.strip(), "other": other.strip()}
    with qa_serve(index_dir, _env(), index_dir / "serve.log") as base:
        yield Real(base, keys)


BOND = next(q for q in QUESTIONS if q["id"] == "q01")


@pytest.mark.slow
def test_real_models_list_the_collection(real: Real) -> None:
    assert [m.id for m in real.client().models.list().data] == ["default"]


@pytest.mark.slow
def test_real_completion_answers_with_sources(real: Real) -> None:
    completion = real.client().chat.completions.create(
        model="default", messages=[{"role": "user", "content": BOND["question"]}]
    )
    content = completion.choices[0].message.content or ""
    extra = completion.model_extra or {}
    assert extra["found"] is True, content
    assert all(m in content for m in BOND["must_contain"]), content
    citations = extra["citations"]
    assert BOND["document"] in {c["document"] for c in citations}
    answer, sources = content.split("\n\n", 1)
    for c in citations:
        where = c["document"] if c["page"] is None else f"{c['document']}, page {c['page']}"
        assert f"[{c['n']}]" in answer
        assert f"[{c['n']}] {where}: “{c['quote']}”" in sources.splitlines()


@pytest.mark.slow
def test_real_stream_yields_deltas_and_ends(real: Real) -> None:
    question = next(q for q in QUESTIONS if q["id"] == "q05")["question"]
    chunks = list(
        real.client().chat.completions.create(
            model="default", messages=[{"role": "user", "content": question}], stream=True
        )
    )
    drafts = [reasoning(c) for c in chunks if reasoning(c)]
    deltas = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(drafts) >= 3 and len(deltas) == 1
    assert chunks[-1].choices[0].finish_reason == "stop"
    extra = chunks[-1].model_extra or {}
    assert isinstance(extra["found"], bool) and isinstance(extra["citations"], list)
    if extra["found"]:
        assert "".join(deltas).endswith(f"“{extra['citations'][-1]['quote']}”")


@pytest.mark.slow
def test_real_errors_map_to_openai_exceptions(real: Real) -> None:
    user = [{"role": "user", "content": "Anything?"}]
    with pytest.raises(openai.NotFoundError):
        real.client().chat.completions.create(model="nope", messages=user)
    with pytest.raises(openai.UnprocessableEntityError, match="no message has role 'user'"):
        real.client().chat.completions.create(
            model="default", messages=[{"role": "system", "content": "Be brief."}]
        )
    with pytest.raises(openai.AuthenticationError):
        real.client("qa_not_a_key").chat.completions.create(model="default", messages=user)
    with pytest.raises(openai.PermissionDeniedError):
        real.client("other").chat.completions.create(model="default", messages=user)


def test_body_errors_carry_the_openai_error_object(fast: Fast) -> None:
    url = f"{fast.server.base}/v1/chat/completions"
    auth = {"Authorization": f"Bearer {fast.keys['admin']}"}
    malformed = httpx.post(
        url, content=b"{nope", headers={**auth, "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["message"] == "the request body is not valid JSON"
    wrong = httpx.post(url, json={"model": "docs", "messages": "hi"}, headers=auth)
    assert wrong.status_code == 422 and wrong.json()["detail"].startswith("messages:")
    assert wrong.json()["error"]["message"] == wrong.json()["detail"]
    anonymous = httpx.get(f"{fast.server.base}/v1/models")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"]
    assert anonymous.json()["error"]["type"] == "authentication_error"
