"""End to end with the real packaged models: CLI and HTTP over the sample corpus.

Slow: loads MiniLM and the generators. The `tiny` generator checks the plumbing
(its answers are poor); the `fast` one checks that sample questions are answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.settings import Settings
from qa.store.faiss.store import FaissStore
from tests.conftest import CORPUS, ROOT, corpus_index_copy

pytestmark = pytest.mark.slow

QUESTIONS = [
    json.loads(line)
    for line in (ROOT / "tests" / "fixtures" / "corpus_questions.jsonl").read_text().splitlines()
]
# Over HTTP: every unanswerable question and every third answerable one (q01, q04, ...),
# seven English and two Chinese, four minutes less of `make test` than all thirty;
# scripts/eval_corpus.py asks all thirty through the same pipeline.
HTTP_QUESTIONS = [q for n, q in enumerate(QUESTIONS) if not q["answerable"] or n % 3 == 0]
CONTRACT_RESULT = {"rank", "score", "document", "chunk_id", "page", "text", "metadata"}
CONTRACT_CITATION = {"n", "document", "chunk_id", "page", "text", "quote", "score"}


def run_qa(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def corpus_index(corpus_index_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared ingest of corpus/ (its `--json` report checked there): the
    app under test writes its catalogue and audit log beside the collection."""
    return corpus_index_copy(corpus_index_template, tmp_path_factory.mktemp("e2e") / "index")


def check_answer(answer: dict[str, Any], index_dir: Path, collection: str = "default") -> None:
    """Contract shape, and every citation names a stored chunk and quotes it verbatim."""
    assert {"answer", "found", "citations"} <= set(answer)
    assert answer["found"] == bool(answer["citations"])
    store = FaissStore(index_dir).open(collection)
    for c in answer["citations"]:
        assert set(c) >= CONTRACT_CITATION
        document, ordinal = c["chunk_id"].rsplit("#", 1)
        assert document == c["document"]
        row_ids = store.docstore.row_ids_matching({"document": document})
        chunks = store.docstore.chunks_by_row_ids(row_ids).values()
        stored = next(ch for ch in chunks if ch.ordinal == int(ordinal))
        assert c["text"] in stored.text and c["quote"] in c["text"]
        assert c["text"][c["quote_start"] : c["quote_end"]] == c["quote"]
        assert f"[{c['n']}]" in answer["answer"]


def test_cli_jsonl_ingest_search_and_ask(tmp_path: Path) -> None:
    records = tmp_path / "some.jsonl"
    records.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "id": "r1",
                    "text": "The museum opens at 10 am and closes at 5 pm daily.",
                    "title": "Museum hours",
                    "metadata": {"kind": "hours"},
                },
                {
                    "id": "r2",
                    "text": "Adult tickets cost 12 dollars; children enter free.",
                    "title": "Tickets",
                },
            ]
        )
        + "\n"
    )
    index_dir = tmp_path / "IDX"
    done = run_qa("ingest", str(records), "--collection", "x", "--index-dir", str(index_dir))
    assert done.returncode == 0, done.stderr
    assert "x: 2 added" in done.stdout

    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "text": "when does the museum open"}\n'
                       '{"id": "b", "text": "ticket price"}\n')  # fmt: skip
    done = run_qa("search", "--queries", str(queries), "--collection", "x",
                  "--index-dir", str(index_dir), "-k", "10", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["a", "b"]
    for line, expected in zip(lines, ["r1", "r2"], strict=True):
        results = line["results"]
        assert len(results) == 2 and set(results[0]) >= CONTRACT_RESULT
        assert results[0]["document"] == expected and results[0]["rank"] == 1
    assert lines[0]["results"][0]["metadata"] == {"kind": "hours"}

    done = run_qa("search", "museum", "--collection", "x", "--index-dir", str(index_dir),
                  "--json", "--filter", "kind=hours")  # fmt: skip
    assert [r["document"] for r in json.loads(done.stdout)] == ["r1"]

    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "q1", "text": "How much is an adult ticket?"}\n'
                         '{"id": "q2", "text": "Who won the 1998 World Cup?"}\n')  # fmt: skip
    done = run_qa("ask", "--questions", str(questions), "--collection", "x",
                  "--index-dir", str(index_dir), "--json", "--generator", "tiny")  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["question_id"] for a in answers] == ["q1", "q2"]
    for answer in answers:
        check_answer(answer, index_dir, "x")
    assert answers[1]["found"] is False
    assert answers[1]["answer"] == "The documents do not contain an answer to this question."


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    done = run_qa("search", "x", "--collection", "missing", "--index-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: collection 'missing'")
    assert "Traceback" not in done.stderr
    done = run_qa("ingest", str(tmp_path / "nope.txt"), "--index-dir", str(tmp_path))
    assert done.returncode == 1 and "no such file or folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_network_access_is_attempted(corpus_index: Path) -> None:
    """Models load by local path even with the HF offline variables unset, and no
    library reports usage: OpenVINO's telemetry keeps quiet under CI=true only, so the
    probe runs without it, as a user's shell does."""
    probe = (
        "import sys\n"
        "def hook(event, args):\n"
        "    if event in ('socket.connect', 'socket.getaddrinfo', 'socket.gethostbyname'):\n"
        "        sys.stderr.write(f'NETWORK {event} {args!r}\\n')\n"
        "sys.addaudithook(hook)\n"
        "from qa.cli import main\n"
        f"sys.argv = ['qa', 'ask', 'What is the maximum bond?', '--index-dir', "
        f"{str(corpus_index)!r}, '--json', '--generator', 'tiny']\n"
        "main()\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "TRANSFORMERS_")) and k not in ("CI", "TF_BUILD", "JENKINS_URL")
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=600,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "NETWORK" not in done.stderr, done.stderr
    check_answer(json.loads(done.stdout), corpus_index)


def wait_ready(client: TestClient, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200:
            return
        assert "failed" not in response.json()["detail"], response.json()
        time.sleep(0.5)
    raise AssertionError("service did not become ready")


@pytest.fixture(scope="module")
def fast_client(corpus_index: Path) -> Iterator[TestClient]:
    app = create_app(Settings(index_dir=corpus_index, generator="fast"))
    with TestClient(app) as client:
        wait_ready(client)
        yield client


def test_http_answers_sample_questions_with_citations(
    fast_client: TestClient, corpus_index: Path
) -> None:
    """The `fast` generator on the sample questions: unanswerable ones must all be
    declined; answerable ones answered with the key fact and valid citations."""
    correct: list[str] = []
    wrong: list[str] = []
    for q in HTTP_QUESTIONS:
        response = fast_client.post("/v1/ask", json={"question": q["question"]})
        assert response.status_code == 200, response.text
        answer = response.json()
        check_answer(answer, corpus_index)
        if not q["answerable"]:
            assert answer["found"] is False, (q["question"], answer["answer"])
            expected = "文档中没有找到该问题的答案。" if q["lang"] == "zh" else "The documents do"
            assert answer["answer"].startswith(expected)
            continue
        ok = answer["found"] and all(
            m.lower() in answer["answer"].lower() for m in q["must_contain"]
        )
        if ok:
            assert q["document"] in {c["document"] for c in answer["citations"]}
            if q["lang"] == "zh":
                assert answer["language"] == "zh"
        (correct if ok else wrong).append(f"{q['id']}: {answer['answer'][:120]}")
    answerable = sum(q["answerable"] for q in HTTP_QUESTIONS)
    # All 9 were right at the last measurement (q04's notice period, the second half of
    # a two-part question, is added from the evidence); scripts/eval_corpus.py measures
    # all thirty.
    assert len(correct) >= 0.85 * answerable, "\n".join(wrong)


def test_http_stream_sends_tokens_then_the_answer(fast_client: TestClient) -> None:
    with fast_client.stream(
        "POST", "/v1/ask", json={"question": "How long is the loan period?", "stream": True}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            line.removeprefix("event: ")
            for line in response.iter_lines()
            if line.startswith("event:")
        ]
    assert events[-1] == "answer" and events.count("answer") == 1
    assert "token" in events[:-1]


def test_chinese_and_english_questions_over_the_mixed_corpus(corpus_index: Path) -> None:
    """The sample corpus has Chinese text, so `auto` chose the multilingual embedder."""
    from qa.records import SearchRequest
    from qa.retrieval.search import Retriever
    from qa.runtime import Runtime

    assert FaissStore(corpus_index).manifest("default").embedder["name"] == "e5-multilingual"
    retriever = Retriever(Runtime(Settings(index_dir=corpus_index)))
    chinese = retriever.search(SearchRequest("每证最多可以同时借阅多少册图书？", k=3))
    assert chinese[0].chunk.document_id == "library/借阅规定.txt"
    assert "10册" in chinese[0].chunk.text
    english = retriever.search(
        SearchRequest("How much notice must a landlord give before an inspection?", k=3)
    )
    assert english[0].chunk.document_id == "tenancy/residential-tenancies-act.md"
    assert "24 hours" in english[0].chunk.text


def test_models_prepare_lists_every_model() -> None:
    done = run_qa("models", "prepare", "--generator", "tiny")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("embedder minilm: ") and lines[1].startswith("embedder e5-multi")
    assert lines[2].startswith("generator tiny: ") and lines[2].endswith("-f16")
    from qa.models.embedders import native_bfloat16

    if native_bfloat16():  # QA_GENERATOR_PREFILL=auto: the prompt reader is exported too
        assert lines[3].startswith("prompt reader (OpenVINO): ")
        assert lines[3].endswith("-ov-prefill") and "tiny-" in lines[3]
    else:
        assert len(lines) == 3


def test_chinese_question_over_a_chinese_collection(tmp_path: Path) -> None:
    done = run_qa("ingest", str(CORPUS / "library"), "--collection", "zh",
                  "--index-dir", str(tmp_path), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert FaissStore(tmp_path).manifest("zh").embedder["name"] == "e5-multilingual"
    done = run_qa("search", "逾期未还的图书怎么收费？", "--collection", "zh",
                  "--index-dir", str(tmp_path), "-k", "3", "--json", "--explain")  # fmt: skip
    results = json.loads(done.stdout)
    assert "0.1元" in results[0]["text"], results[0]["text"]
    assert results[0]["explain"]["dense_rank"] is not None
    assert results[0]["explain"]["sparse_score"] > 0
