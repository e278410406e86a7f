"""`qa ask QUESTION --history FILE.json` (#16): the follow-up searched standalone and
reported in --json; a bad history file is one error line. In process, with the hashing
embedder and a generator that echoes its first passage (the plumbing is the point)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from qa.cli import ask as ask_module
from qa.cli import main
from qa.models.protocols import ChatMessage
from qa.records import Document
from qa.runtime import Runtime
from qa.settings import Settings
from tests.conftest import HashingEmbedder

INSPECTION = "A landlord must give 7 days' written notice before an inspection of the premises."
REPAIR = "For a repair that is not urgent, the landlord must give 48 hours' notice to the tenant."


class Echo:
    name = "echo"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        match = re.search(r"<passage [^>]*>\n(.*?)\n</passage>", messages[-1]["content"], re.S)
        yield match.group(1) if match else ""


@pytest.fixture
def qa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    embedder = HashingEmbedder()

    def runtime_for(settings: Settings) -> Runtime:
        runtime = Runtime(settings.model_copy(update={"embedder": "hashing", "audit": False}))
        runtime.add_embedder(embedder)
        runtime._generator = Echo()
        return runtime

    documents = [Document("inspection", INSPECTION), Document("repair", REPAIR)]
    runtime_for(Settings(index_dir=tmp_path / "idx")).ingest_documents(
        documents, "default", progress=False
    )
    monkeypatch.setattr(ask_module, "runtime_for", runtime_for)
    monkeypatch.setenv("QA_CONFIG", str(tmp_path / "none.toml"))

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["qa", "ask", *args, "--index-dir", str(tmp_path / "idx")])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code

    return run


def test_ask_with_a_history_file_searches_the_follow_up_standalone(
    qa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.json"
    history.write_text(
        json.dumps(
            [
                {"role": "user", "content": "What is the notice period for an inspection?"},
                {"role": "assistant", "content": INSPECTION},
            ]
        )
    )
    assert qa("And for a repair?", "--history", str(history), "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["standalone_question"] == "What is the notice period for a repair?"
    assert answer["clarification"] is False and answer["found"] is True
    assert [c["document"] for c in answer["citations"]] == ["repair"]
    assert qa("And for a repair?", "--history", str(history)) == 0
    out = capsys.readouterr().out
    assert out.startswith("(searched: What is the notice period for a repair?)\n")
    assert REPAIR in out


def test_without_a_history_the_json_is_as_before(
    qa: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qa("What notice is given before an inspection?", "--json") == 0
    assert "standalone_question" not in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a JSON file"),
        ('{"role": "user"}', "expected a list"),
        ('[{"role": "tool", "content": "x"}]', ".0.role: expected 'user' or 'assistant'"),
        (None, "No such file"),
    ],
)
def test_a_bad_history_file_is_one_error_line(
    qa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    history = tmp_path / "bad.json"
    if content is not None:
        history.write_text(content)
    assert qa("And for a repair?", "--history", str(history)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --history ") and message in err[-1]
