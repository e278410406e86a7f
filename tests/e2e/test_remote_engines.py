"""Remote engines against real servers started here: llama.cpp's OpenAI-compatible
server with the `tiny` GGUF generating, and `qa serve`'s /v1/embeddings embedding,
both configured with environment variables only. Killed mid-stream and mid-ingest,
they leave clean errors, an intact index and a service that answers once they return.

Slow: a llama.cpp server, two `qa serve` children and a few `qa` commands.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.models.registry import generator_gguf
from qa.settings import Settings
from tests.api.service import build_collection
from tests.conftest import free_port, qa_serve
from tests.e2e.test_end_to_end import check_answer
from tests.models.engines import Engine, serve

__all__ = ["serve"]  # a fixture: imported so that pytest finds it here

pytestmark = pytest.mark.slow

KEY = "sk-e2e-remote-7f3a9c51d2"
RECORDS = [
    {"id": "r1", "text": "The museum opens at 10 am and closes at 5 pm daily.", "title": "Hours"},
    {"id": "r2", "text": "Adult tickets cost 12 dollars; children enter free.", "title": "Tickets"},
]
LONG = "Explain in detail everything about the museum, its hours, tickets and history."


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    # Every question here must reach the engines; the answerability gate would refuse
    # the vague LONG request before generating (tests/answer/test_gate.py tests it).
    env.update({"QA_EMBEDDER": "minilm", "QA_ANSWERABILITY_THRESHOLD": "0", **extra})
    return env


def run_qa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def write_records(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


class LlamaServer:
    """`python -m llama_cpp.server` with the tiny GGUF, demanding the API key."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"  # no /v1: the client adds it
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        gguf = generator_gguf("tiny", Settings().cache_dir)
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                 "--port", str(self.port), "--n_ctx", "2048", "--model_alias", "tiny",
                 "--api_key", KEY, "--n_threads", "2"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                auth = {"Authorization": f"Bearer {KEY}"}
                if httpx.get(f"{self.url}/v1/models", headers=auth, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"llama.cpp server never answered:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is missing")
    server = LlamaServer(tmp_path_factory.mktemp("llama") / "server.log")
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(10)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collection embedded locally with MiniLM."""
    folder = tmp_path_factory.mktemp("remote-index")
    records = write_records(folder.parent / "records.jsonl", RECORDS)
    done = run_qa("ingest", str(records), "--index-dir", str(folder), env=clean_env())
    assert done.returncode == 0, done.stderr
    return folder


def generator_env(llama: LlamaServer, key_file: Path, **extra: str) -> dict[str, str]:
    key_file.write_text(KEY)
    return clean_env(
        QA_GENERATOR_URL=llama.url,
        QA_GENERATOR_MODEL="tiny",
        QA_GENERATOR_API_KEY_FILE=str(key_file),
        QA_REMOTE_RETRIES="1",
        QA_MAX_NEW_TOKENS="48",
        **extra,
    )


@pytest.fixture(scope="module")
def server(
    llama: LlamaServer, index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """`qa serve` answering through the llama.cpp server; its own MiniLM embeds for others."""
    folder = tmp_path_factory.mktemp("serve")
    env = generator_env(llama, folder / "key")
    with qa_serve(index_dir, env, folder / "serve.log", ready_within_s=120) as base:
        yield base, folder / "serve.log"


def test_qa_ask_answers_through_the_engine(llama: LlamaServer, index_dir: Path) -> None:
    questions = write_records(
        index_dir.parent / "questions.jsonl",
        [{"id": "q1", "text": "How much is an adult ticket?"},
         {"id": "q2", "text": "Who won the 1998 World Cup?"}],
    )  # fmt: skip
    env = generator_env(llama, index_dir.parent / "key", QA_GENERATOR_API_KEY=KEY)
    done = run_qa("ask", "--questions", str(questions), "--index-dir", str(index_dir), "--json",
                  env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    for answer in answers:
        check_answer(answer, index_dir)
    assert answers[0]["found"] and answers[0]["citations"][0]["document"] == "r2"
    assert answers[1]["found"] is False
    assert KEY not in done.stdout + done.stderr


def test_a_raw_prompt_through_completions_answers_like_chat(
    llama: LlamaServer, index_dir: Path
) -> None:
    """QA_GENERATOR_TEMPLATE: the messages rendered here (ChatML, SmolLM2's own layout)
    and sent to llama.cpp's /v1/completions; grounding and refusal as with chat."""
    questions = write_records(
        index_dir.parent / "raw-questions.jsonl",
        [{"id": "q1", "text": "How much is an adult ticket?"},
         {"id": "q2", "text": "Who won the 1998 World Cup?"}],
    )  # fmt: skip
    env = generator_env(llama, index_dir.parent / "key", QA_GENERATOR_TEMPLATE="chatml")
    logged = len(llama.log_path.read_text())
    done = run_qa("ask", "--questions", str(questions), "--index-dir", str(index_dir), "--json",
                  env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    for answer in answers:
        check_answer(answer, index_dir)
    assert answers[0]["found"] and answers[0]["citations"][0]["document"] == "r2"
    assert "12" in answers[0]["answer"]
    assert answers[1]["found"] is False
    requests = llama.log_path.read_text()[logged:]
    assert "POST /v1/completions" in requests and "/v1/chat/completions" not in requests


def test_http_answers_and_streams_through_the_engine(
    server: tuple[str, Path], index_dir: Path, llama: LlamaServer
) -> None:
    base, _ = server
    events = stream_events(base, "How much is an adult ticket?")
    assert events[0][0] == "token" and [name for name, _ in events][-1] == "answer"
    check_answer(events[-1][1], index_dir)
    assert events[-1][1]["found"]
    ready = httpx.get(f"{base}/readyz", timeout=10).json()
    assert ready["generator"] == "tiny"
    assert ready["engines"]["generator"] == {
        "model": "tiny", "engine": f"127.0.0.1:{llama.port}", "reachable": True
    }  # fmt: skip


def test_chat_completions_with_history_answer_through_the_engine(
    server: tuple[str, Path], index_dir: Path
) -> None:
    """The OpenAI endpoint over the remote generator: a follow-up searched with its
    history, answered and cited from the collection, grounding done here."""
    base, _ = server
    reply = httpx.post(
        f"{base}/v1/chat/completions",
        json={
            "model": "default",
            "messages": [
                {"role": "user", "content": "When does the museum open?"},
                {"role": "assistant", "content": "The museum opens at 10 am daily. [1]"},
                {"role": "user", "content": "And how much are the adult tickets?"},
            ],
        },
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["found"] and body["citations"][0]["document"] == "r2"
    assert "12" in body["choices"][0]["message"]["content"]
    assert "ticket" in body["standalone_question"].lower()


def stream_events(
    base: str, question: str, on_token: Callable[[], None] | None = None
) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    body = {"question": question, "stream": True}
    with httpx.stream("POST", f"{base}/v1/ask", json=body, timeout=60) as response:
        assert response.status_code == 200
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if name == "token" and on_token is not None and len(events) == 1:
                    on_token()
    return events


def test_engine_killed_mid_stream_down_then_back(
    server: tuple[str, Path], llama: LlamaServer
) -> None:
    base, log_path = server
    events = stream_events(base, LONG, on_token=llama.kill)
    name, error = events[-1]
    assert name == "error", events[-3:]
    assert error["status"] == 502
    assert f"generator engine at 127.0.0.1:{llama.port} broke after" in error["detail"]

    down = httpx.post(f"{base}/v1/ask", json={"question": "When does it open?"}, timeout=60)
    assert down.status_code == 503 and down.headers["retry-after"]
    assert "generator engine at 127.0.0.1" in down.json()["detail"]
    assert "unreachable" in down.json()["detail"] and "tried 2 times" in down.json()["detail"]
    engine = httpx.get(f"{base}/readyz", timeout=10).json()["engines"]["generator"]
    assert engine["reachable"] is False and "unreachable" in engine["detail"]

    llama.start()
    back = httpx.post(f"{base}/v1/ask", json={"question": "When does it open?"}, timeout=60)
    assert back.status_code == 200, back.text
    assert KEY not in log_path.read_text()


def test_a_silent_engine_is_504(serve: Callable[[Engine], str], tmp_path: Path) -> None:
    def silent(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        time.sleep(2)

    embedder = build_collection(tmp_path / "idx")
    settings = Settings(
        index_dir=tmp_path / "idx",
        generator_url=serve(Engine(silent)),
        generator_model="m",
        remote_read_timeout_s=0.5,
        audit=False,
    )
    app = create_app(settings, warm=False)
    with TestClient(app) as client:
        app.state.qa.runtime.add_embedder(embedder)
        body = {"question": "How many weeks of rent is the rental bond?", "collection": "docs"}
        reply = client.post("/v1/ask", json=body)
    assert reply.status_code == 504, reply.text
    assert reply.json()["title"] == "Engine timed out"
    assert reply.json()["detail"].endswith("sent nothing for 0.5 s")


def embedder_env(base: str, model: str = "minilm", **extra: str) -> dict[str, str]:
    return clean_env(QA_EMBEDDER_URL=f"{base}/v1", QA_EMBEDDER_MODEL=model, **extra)


def search(index: Path, query: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = run_qa("search", query, "--index-dir", str(index), "--json", env=env)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_ingest_and_search_through_a_remote_embedder(
    server: tuple[str, Path], tmp_path: Path, index_dir: Path
) -> None:
    base, _ = server
    records = write_records(tmp_path / "records.jsonl", RECORDS)
    index = tmp_path / "idx"
    done = run_qa("ingest", str(records), "--index-dir", str(index), env=embedder_env(base))
    assert done.returncode == 0, done.stderr
    assert search(index, "ticket price", embedder_env(base))[0]["document"] == "r2"

    other = embedder_env(base, "e5-multilingual", QA_EMBEDDER_INPUT_TYPE="true")
    refused = run_qa("search", "ticket price", "--index-dir", str(index_dir), env=other)
    assert refused.returncode != 0
    assert "was built with embedder 'minilm'" in refused.stderr
    assert (
        "but embedder 'e5-multilingual'" in refused.stderr and "qa index rebuild" in refused.stderr
    )


def test_embedding_server_killed_mid_ingest(server: tuple[str, Path], tmp_path: Path) -> None:
    """The job fails with one clear line, the last good generation still serves (through
    another replica of the same model: the fingerprint is not the address), and running
    the ingestion again completes it."""
    base, _ = server
    index = tmp_path / "idx"
    first = write_records(tmp_path / "first.jsonl", RECORDS)
    many = [{"id": f"m{i}", "text": f"Gallery {i} shows painting number {i}."} for i in range(150)]
    more = write_records(tmp_path / "more.jsonl", RECORDS + many)
    log_path = tmp_path / "embed.log"
    # Its generator is remote too: nothing to load but MiniLM.
    remote = clean_env(QA_GENERATOR_URL="http://127.0.0.1:9", QA_GENERATOR_MODEL="none")
    with qa_serve(tmp_path / "empty", remote, log_path, ready_within_s=120) as doomed:
        env = embedder_env(doomed, QA_REMOTE_EMBED_BATCH="1", QA_REMOTE_EMBED_CONCURRENCY="1",
                           QA_REMOTE_RETRIES="0")  # fmt: skip
        assert run_qa("ingest", str(first), "--index-dir", str(index), env=env).returncode == 0
        sent = log_path.read_text().count("POST /v1/embeddings")
        ingest = subprocess.Popen(
            [sys.executable, "-m", "qa", "ingest", str(more), "--index-dir", str(index)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        while log_path.read_text().count("POST /v1/embeddings") < sent + 5:
            assert ingest.poll() is None, ingest.communicate()
            time.sleep(0.02)
        kill_serving(doomed)
        _, stderr = ingest.communicate(timeout=120)
    assert ingest.returncode != 0
    lines = stderr.strip().splitlines()
    assert "embedder engine at 127.0.0.1" in lines[-1] and "Traceback" not in stderr

    survivor = embedder_env(base)
    results = search(index, "painting gallery", survivor)
    assert {r["document"] for r in results} <= {"r1", "r2"}, "a half-done ingestion was published"
    again = run_qa("ingest", str(more), "--index-dir", str(index), env=survivor)
    assert again.returncode == 0, again.stderr
    assert search(index, "Gallery 7 painting number 7", survivor)[0]["document"] == "m7"


def kill_serving(base: str) -> None:
    """SIGKILL the `qa serve` child listening on base's port (found by its command line)."""
    port = base.rsplit(":", 1)[1]
    found = subprocess.run(["pgrep", "-f", f"qa serve --port {port} "], capture_output=True,
                           text=True, check=False)  # fmt: skip
    pids = [int(p) for p in found.stdout.split()]
    assert len(pids) == 1, found
    os.kill(pids[0], signal.SIGKILL)
