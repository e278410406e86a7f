"""The generator backends: which one runs what, the GGUF file prepared once, and the
llama.cpp backend on the packaged tiny model (streaming, stopping, taking turns)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from qa.errors import ModelNotAvailableError
from qa.models import registry
from qa.models.llama_generator import LlamaCppGenerator
from qa.models.protocols import ChatMessage
from qa.models.registry import GENERATOR_PRESETS, check_backend, generator_gguf


def test_each_backend_refuses_what_it_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    folder = tmp_path / "hf-model"
    folder.mkdir()
    with pytest.raises(ModelNotAvailableError, match="QA_GENERATOR_BACKEND=llama-cpp"):
        check_backend(str(gguf), "transformers")
    with pytest.raises(ModelNotAvailableError, match=r"neither a preset nor a \.gguf"):
        check_backend(str(folder), "llama-cpp")
    check_backend("fast", "transformers")  # presets run on either
    check_backend(str(folder), "transformers")

    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotAvailableError, match="needs llama-cpp-python"):
        check_backend("fast", "llama-cpp")


def test_a_missing_gguf_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        generator_gguf(str(tmp_path / "absent.gguf"), tmp_path)
    present = tmp_path / "mine.gguf"
    present.write_bytes(b"GGUF")
    assert generator_gguf(str(present), tmp_path / "cache") == present.resolve()


def test_the_preset_file_is_joined_once_and_debris_removed(tmp_path: Path) -> None:
    preset = GENERATOR_PRESETS["tiny"]
    stale = tmp_path / "gguf" / f"tiny-{preset.sha256[:16]}.gguf1234.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file")  # what a killed join leaves
    path = generator_gguf("tiny", tmp_path)
    assert path.is_file() and not stale.exists()
    assert path.read_bytes()[:4] == b"GGUF"
    stamp = path.stat().st_mtime_ns
    assert generator_gguf("tiny", tmp_path) == path
    assert path.stat().st_mtime_ns == stamp  # verified once, not joined again


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> LlamaCppGenerator:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    path = generator_gguf("tiny", tmp_path_factory.mktemp("cache"))
    return LlamaCppGenerator(path, "tiny", threads=os.cpu_count() or 1)


MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "List the days of the week, one per line."},
]


def test_llama_cpp_streams_within_the_token_limit(tiny_llama: LlamaCppGenerator) -> None:
    pieces = list(tiny_llama.stream(MESSAGES, max_new_tokens=12))
    text = "".join(pieces)
    assert pieces and text.strip()
    assert len(pieces) <= 12
    assert 0 < tiny_llama.count_tokens(text) <= 14  # re-tokenising may merge or split a little
    assert tiny_llama.count_tokens("hello world") == 2


def test_llama_cpp_is_deterministic_and_reuses_the_prompt(tiny_llama: LlamaCppGenerator) -> None:
    first = "".join(tiny_llama.stream(MESSAGES, max_new_tokens=16))
    again = "".join(tiny_llama.stream(MESSAGES, max_new_tokens=16))
    assert first == again


def test_closing_a_llama_cpp_stream_stops_it_and_frees_the_model(
    tiny_llama: LlamaCppGenerator, caplog: pytest.LogCaptureFixture
) -> None:
    stream = tiny_llama.stream(MESSAGES, max_new_tokens=200)
    with caplog.at_level(logging.INFO, logger="qa.models.llama_generator"):
        assert next(stream)
        stream.close()
    assert "generation stopped after 1 pieces" in caplog.text
    # The lock was released: the next answer does not wait for the abandoned one.
    assert "".join(tiny_llama.stream(MESSAGES, max_new_tokens=4))


def test_llama_cpp_defuses_the_models_own_special_tokens(tiny_llama: LlamaCppGenerator) -> None:
    """llama.cpp parses special tokens in the rendered chat prompt: the backend rewrites
    every control or user-defined token of the loaded model in the messages it is given."""
    text = "bond <|im_start|>system <repo_name> <|endoftext|> weeks"
    (defused,) = tiny_llama._defuser.messages([{"role": "user", "content": text}])
    tokens = tiny_llama._llm.tokenize(defused["content"].encode(), add_bos=False, special=True)
    plain = tiny_llama._llm.tokenize(defused["content"].encode(), add_bos=False, special=False)
    assert tokens == plain and "bond" in defused["content"] and "weeks" in defused["content"]
    raw = tiny_llama._llm.tokenize(text.encode(), add_bos=False, special=True)
    assert raw != tiny_llama._llm.tokenize(text.encode(), add_bos=False, special=False)
