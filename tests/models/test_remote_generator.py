"""The remote generator's HTTP behaviour against small in-thread servers that misbehave
on purpose: refused, slow, cut mid-stream, refusing the key or log-probabilities.
The real engine (llama.cpp's server) is in tests/e2e/test_remote_engines.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from qa.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from qa.models.registry import generator_gguf
from qa.models.remote_client import EngineClient
from qa.models.remote_generator import CHATML, RemoteGenerator
from qa.models.token_estimate import estimate_tokens
from qa.settings import Settings
from tests.conftest import CORPUS, free_port
from tests.models.engines import Engine, serve, sse

__all__ = ["serve"]  # a fixture: imported so that pytest finds it here

KEY = "sk-test-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Say hello."}]


def generator(url: str, *, read_s: float = 5.0, retries: int = 0) -> RemoteGenerator:
    client = EngineClient(
        url,
        role="generator",
        key=SecretStr(KEY),
        connect_timeout_s=2.0,
        read_timeout_s=read_s,
        retries=retries,
        max_connections=4,
    )
    return RemoteGenerator(client, "m")


def test_streams_pieces_with_the_key_as_bearer_and_keeps_logprobs(
    serve: Callable[[Engine], str],
) -> None:
    engine = Engine(lambda h, body: sse(h, ["Hel", "lo", "."]))
    remote = generator(serve(engine))
    assert "".join(remote.stream(MESSAGES, max_new_tokens=8)) == "Hello."
    headers, body = engine.requests[0]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert body["temperature"] == 0 and body["stream"] is True and body["max_tokens"] == 8
    assert body["messages"] == MESSAGES and body["model"] == "m" and body["logprobs"] is True
    assert remote.last.tokens == ["Hel", "lo", "."] and remote.last.logprobs == [-0.5] * 3


def test_an_engine_refusing_logprobs_is_asked_again_without(
    serve: Callable[[Engine], str],
) -> None:
    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if "logprobs" in body:
            h.send_response(400)
            message = b'{"error": "logprobs is not supported"}'
            h.send_header("content-length", str(len(message)))
            h.end_headers()
            h.wfile.write(message)
        else:
            sse(h, ["ok"])

    engine = Engine(reply)
    remote = generator(serve(engine))
    assert list(remote.stream(MESSAGES, max_new_tokens=4)) == ["ok"]
    assert list(remote.stream(MESSAGES, max_new_tokens=4)) == ["ok"]
    assert ["logprobs" in body for _, body in engine.requests] == [True, False, False]


def test_closing_the_stream_closes_the_upstream_connection(
    serve: Callable[[Engine], str],
) -> None:
    engine = Engine(lambda h, body: sse(h, ["word "] * 200, delay=0.02))
    pieces = generator(serve(engine)).stream(MESSAGES, max_new_tokens=200)
    assert next(pieces) == "word "
    pieces.close()
    assert engine.disconnected.wait(5), "the engine kept writing to a reader that left"


def test_a_refused_connection_is_503_after_the_retries() -> None:
    remote = generator(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(UpstreamUnavailableError) as caught:
        list(remote.stream(MESSAGES, max_new_tokens=4))
    assert caught.value.status == 503
    assert "generator engine at 127.0.0.1:" in caught.value.detail
    assert "tried 2 times" in caught.value.detail


def test_a_silent_engine_is_504(serve: Callable[[Engine], str]) -> None:
    engine = Engine(lambda h, body: time.sleep(2))
    with pytest.raises(UpstreamTimeoutError, match=r"sent nothing for 0\.5 s") as caught:
        list(generator(serve(engine), read_s=0.5, retries=2).stream(MESSAGES, max_new_tokens=4))
    assert caught.value.status == 504
    assert len(engine.requests) == 1, "a request the engine may be running was sent again"


def test_a_stream_cut_short_is_502_and_never_retried(serve: Callable[[Engine], str]) -> None:
    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        h.wfile.write(b'data: {"choices": [{"delta": {"content": "Half"}}]}\n\n')
        h.wfile.flush()

    engine = Engine(reply)
    pieces = generator(serve(engine), retries=3).stream(MESSAGES, max_new_tokens=4)
    assert next(pieces) == "Half"
    with pytest.raises(UpstreamError) as caught:
        next(pieces)
    assert caught.value.status == 502 and "after 1 pieces" in caught.value.detail
    assert len(engine.requests) == 1


def test_a_refused_key_is_502_and_the_key_never_shows(serve: Callable[[Engine], str]) -> None:
    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        message = json.dumps({"error": f"Incorrect API key provided: {KEY}"}).encode()
        h.send_response(401)
        h.send_header("content-length", str(len(message)))
        h.end_headers()
        h.wfile.write(message)

    with pytest.raises(UpstreamError) as caught:
        list(generator(serve(Engine(reply)), retries=2).stream(MESSAGES, max_new_tokens=4))
    assert caught.value.status == 502 and "refused the API key (HTTP 401)" in caught.value.detail
    assert KEY not in caught.value.detail and KEY not in repr(caught.value)


def test_an_overloaded_engine_is_retried_then_answers(serve: Callable[[Engine], str]) -> None:
    def reply(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if len(engine.requests) == 1:
            h.send_response(503)
            h.send_header("retry-after", "0")
            h.send_header("content-length", "0")
            h.end_headers()
        else:
            sse(h, ["fine"])

    engine = Engine(reply)
    assert list(generator(serve(engine), retries=1).stream(MESSAGES, max_new_tokens=4)) == ["fine"]


def test_the_key_file_is_read_and_the_key_never_printed(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    settings = Settings(generator_api_key_file=key_file, generator_url="http://h:1")
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    from qa.settings.remote import read_key

    key = read_key(settings.generator_api_key, settings.generator_api_key_file, "generator")
    assert key is not None and key.get_secret_value() == KEY and KEY not in repr(key)


def test_the_token_estimate_errs_high_against_a_real_tokenizer() -> None:
    """The prompt budget counts with it: on the sample corpus (English and Chinese) it
    must not fall short of SmolLM2's real count by more than 15% for any paragraph."""
    llama_cpp = pytest.importorskip("llama_cpp")
    gguf = generator_gguf("tiny", Settings().cache_dir)
    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    real = estimated = 0
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".md", ".txt", ".html"):
            continue
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            if len(paragraph) < 40:
                continue
            count = len(llm.tokenize(paragraph.encode(), add_bos=False, special=False))
            assert estimate_tokens(paragraph) >= 0.85 * count, paragraph
            real, estimated = real + count, estimated + estimate_tokens(paragraph)
    assert real > 1000 and estimated >= real


def test_a_raw_prompt_goes_to_completions_rendered_with_the_template(
    serve: Callable[[Engine], str],
) -> None:
    paths: list[str] = []

    def completion(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        paths.append(h.path)
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        for text, logprob in (("Hel", -0.25), ("lo.", -0.5)):
            choice = {"text": text, "logprobs": {"tokens": [text], "token_logprobs": [logprob]}}
            h.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
        h.wfile.write(b"data: [DONE]\n\n")

    engine = Engine(completion)
    client = EngineClient(
        serve(engine), role="generator", key=None, connect_timeout_s=2.0,
        read_timeout_s=5.0, retries=0, max_connections=4,
    )  # fmt: skip
    remote = RemoteGenerator(client, "m", template=CHATML)
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    assert "".join(remote.stream(messages, max_new_tokens=8)) == "Hello."
    _, body = engine.requests[0]
    assert paths == ["/v1/completions"] and "messages" not in body
    assert body["prompt"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSay hello.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert remote.last.logprobs == [-0.25, -0.5] and body["logprobs"] == 1
