"""`qa chat` driven through its entry point with a conversation piped into stdin: two
turns (the follow-up searched standalone), /sources, /new, an unknown command and an
error that leaves the session going. In process, with the hashing embedder; the fast
tests use a generator that echoes its first passage (the plumbing is the point), the
slow one the real `tiny` generator."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qa.cli import chat as chat_module
from qa.cli import main
from qa.records import Document
from qa.runtime import Runtime
from qa.settings import Settings
from tests.cli.test_ask_history import INSPECTION, REPAIR, Echo
from tests.conftest import HashingEmbedder

FIRST = "What is the notice period for an inspection?"
STANDALONE = "(searched: What is the notice period for a repair?)"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def qa_chat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[bool], Run]:
    """run(lines, *args) -> (exit status, stdout, stderr) of `qa chat ARGS` reading
    `lines`, over a collection 'default' of the two notices; echo=False: `tiny`."""
    embedder = HashingEmbedder()

    def prepare(echo: bool) -> Run:
        def runtime_for(settings: Settings) -> Runtime:
            # Short answers: the tiny generator's words are not what is tested.
            update = {"embedder": "hashing", "audit": False, "max_new_tokens": 24}
            runtime = Runtime(settings.model_copy(update=update))
            runtime.add_embedder(embedder)
            if echo:
                runtime._generator = Echo()
            return runtime

        documents = [Document("inspection", INSPECTION), Document("repair", REPAIR)]
        runtime_for(Settings(index_dir=tmp_path / "idx")).ingest_documents(
            documents, "default", progress=False
        )
        monkeypatch.setattr(chat_module, "runtime_for", runtime_for)
        monkeypatch.setenv("QA_CONFIG", str(tmp_path / "none.toml"))

        def run(lines: list[str], *args: str) -> tuple[int, str, str]:
            argv = ["qa", "chat", "--index-dir", str(tmp_path / "idx"), *args]
            monkeypatch.setattr(sys, "argv", argv)
            monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{x}\n" for x in lines)))
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
            out, err = capsys.readouterr()
            return code, out, err

        return run

    return prepare


def _answers(out: str) -> list[str]:
    """The blocks of output, one per answer or command, blank-line separated."""
    return [block for block in out.split("\n\n") if block.strip()]


def test_two_turns_sources_and_a_new_conversation(qa_chat: Callable[[bool], Run]) -> None:
    run = qa_chat(True)
    lines = [FIRST, "And for a repair?", "/sources", "/nonsense", "x" * 2001, "/new",
             "/sources", "And for a repair?", "/quit", "never asked"]  # fmt: skip
    code, out, err = run(lines, "--stream")
    assert code == 0, err
    draft, first, draft_2, second, sources, new, none_yet, draft_3, third = _answers(out)
    # The draft streamed, then the grounded answer with its source.
    assert draft == INSPECTION and draft_2 == draft_3 == REPAIR
    assert first == f"{INSPECTION} [1]\nsources: [1] inspection (/sources shows the passages)"
    # The follow-up: searched with the first question's subject, answered from 'repair'.
    assert second.startswith(f"{STANDALONE}\n{REPAIR} [1]\nsources: [1] repair")
    assert sources == f"[1] repair\n    “{REPAIR}”"
    assert err.splitlines() == [
        "error: unknown command /nonsense; /help lists them",
        "error: question is 2001 characters, over the limit of 2000",
    ]
    # After /new: no answer to cite, and the follow-up has no history to lean on.
    assert (new, none_yet) == ("(new conversation)", "no answer yet in this conversation")
    assert third.startswith(f"{REPAIR} [1]\nsources: [1] repair")
    assert "never asked" not in out


def test_piped_output_is_the_answers_only(qa_chat: Callable[[bool], Run]) -> None:
    run = qa_chat(True)
    code, out, _ = run([FIRST, "/help"])  # stdout is not a terminal: no draft, no prompt
    assert code == 0
    answer, help_text = _answers(out)
    assert answer == f"{INSPECTION} [1]\nsources: [1] inspection (/sources shows the passages)"
    assert help_text == chat_module.HELP.rstrip()


def test_an_unknown_collection_is_one_error_line(qa_chat: Callable[[bool], Run]) -> None:
    run = qa_chat(True)
    code, out, err = run([FIRST], "--collection", "nowhere")
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith("error: collection 'nowhere' does not exist")


@pytest.mark.slow
def test_a_conversation_with_the_tiny_generator(qa_chat: Callable[[bool], Run]) -> None:
    run = qa_chat(False)
    code, out, err = run(
        [FIRST, "And for a repair?", "/sources", "/new", "/sources"], "--generator", "tiny"
    )
    assert code == 0, err
    blocks = _answers(out)
    assert STANDALONE in blocks[1] and STANDALONE not in blocks[0]
    # /sources quotes the documents word for word, or says the answer cited none.
    quotes = re.findall(r"“(.*)”", blocks[2])
    cited = blocks[2] == "the last answer cites no source"
    assert cited or (quotes and all(q in INSPECTION + REPAIR for q in quotes)), blocks[2]
    assert blocks[-2:] == ["(new conversation)", "no answer yet in this conversation"]
