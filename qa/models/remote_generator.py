"""Generator backend: an OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp's
server) streaming `/v1/chat/completions`, or `/v1/completions` with a raw prompt.

The engine applies the model's chat template; this side sends the messages with
temperature 0 and reads the server-sent events as they come. A model served without a
chat template (a base model behind vLLM, a TGI without one) is given a raw prompt
instead: the messages rendered here with the operator's template (`QA_GENERATOR_TEMPLATE`,
a Jinja file in the Hugging Face chat-template format, or `chatml`). Closing the stream
(the client hung up, the deadline passed) closes the HTTP connection, which every
such engine takes as the order to stop generating. Everything after generation
(grounding, citations, refusals) is the same as with a local model.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from qa.errors import UpstreamError
from qa.models.protocols import ChatMessage
from qa.models.remote_client import EngineClient
from qa.models.token_estimate import estimate_tokens

log = logging.getLogger(__name__)


@dataclass
class StreamRecord:
    """What the engine said about one stream besides its text: each token's
    log-probability (where the engine offers them) and why it stopped."""

    pieces: int = 0
    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str | None = None


# The ChatML layout (Qwen, many fine-tunes), for `QA_GENERATOR_TEMPLATE=chatml`.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def render_prompt(template: str, messages: Sequence[ChatMessage]) -> str:
    """The raw prompt of `messages` under a chat template, rendered in Jinja's sandbox
    (a template is configuration, but it should not reach the process either way)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    chat = [{"role": m["role"], "content": m["content"]} for m in messages]
    return env.from_string(template).render(messages=chat, add_generation_prompt=True)


class RemoteGenerator:
    def __init__(
        self,
        client: EngineClient,
        model: str,
        *,
        logprobs: bool = True,
        template: str | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._logprobs = logprobs
        self._template = template
        """Set: raw prompts through /completions, rendered with this chat template."""
        self.last = StreamRecord()
        """The latest stream's record (with concurrent streams, whichever began last)."""

    @property
    def name(self) -> str:
        return self._model

    @property
    def client(self) -> EngineClient:
        return self._client

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        record = self.last = StreamRecord()
        if logprobs is not None:
            record.logprobs = logprobs
        finished = False
        try:
            with contextlib.ExitStack() as stack:
                response = self._open(stack, messages, max_new_tokens)
                for chunk in self._events(response, record):
                    piece = self._read(chunk, record)
                    if piece:
                        record.pieces += 1
                        yield piece
            finished = True
        finally:
            if not finished:
                log.info("generation stopped after %d pieces", record.pieces)

    @property
    def _path(self) -> str:
        return "/chat/completions" if self._template is None else "/completions"

    def _body(self, messages: Sequence[ChatMessage], max_new_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "max_tokens": max_new_tokens,
            "temperature": 0.0,
            "stream": True,
        }
        if self._template is None:
            body["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages]
            if self._logprobs:
                body["logprobs"] = True
        else:
            body["prompt"] = render_prompt(self._template, messages)
            if self._logprobs:
                body["logprobs"] = 1  # the legacy API counts alternatives per token
        return body

    def _open(
        self, stack: contextlib.ExitStack[Any], messages: Sequence[ChatMessage], max_new_tokens: int
    ) -> httpx.Response:
        """The stream's response, closed with `stack`. An engine that refuses
        log-probabilities (HTTP 400/422 naming them) is asked again without, and not
        asked for them again: nothing was generated yet."""
        body = self._body(messages, max_new_tokens)
        try:
            return stack.enter_context(self._client.open_stream(self._path, body))
        except UpstreamError as exc:
            if "logprobs" not in body or not _refuses_logprobs(exc):
                raise
        log.info("%s does not offer log-probabilities; not asking again", self._client.where)
        self._logprobs = False
        del body["logprobs"]
        return stack.enter_context(self._client.open_stream(self._path, body))

    def _events(self, response: httpx.Response, record: StreamRecord) -> Iterator[dict[str, Any]]:
        """The JSON of each `data:` event until `[DONE]`. A connection that breaks or
        falls silent mid-answer is an error, never retried: the text is already out."""
        lines = response.iter_lines()
        while True:
            try:
                line = next(lines)
            except StopIteration:
                raise UpstreamError(
                    f"{self._client.where} ended the stream after {record.pieces} pieces "
                    "without finishing it"
                ) from None
            except httpx.TimeoutException:
                raise self._client.timed_out() from None
            except httpx.TransportError as exc:
                raise self._client.broken(exc, f"after {record.pieces} pieces") from None
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise UpstreamError(
                    f"{self._client.where} sent an event that is not JSON"
                ) from None
            if not isinstance(event, dict):
                raise UpstreamError(f"{self._client.where} sent an event that is not an object")
            yield event

    def _read(self, chunk: dict[str, Any], record: StreamRecord) -> str:
        if "error" in chunk:
            message = self._client.scrub(json.dumps(chunk["error"]))[:300]
            raise UpstreamError(f"{self._client.where} reported an error mid-stream: {message}")
        choices = chunk.get("choices") or []
        if not choices:
            return ""  # usage-only or keep-alive events
        choice = choices[0]
        if choice.get("finish_reason"):
            record.finish_reason = str(choice["finish_reason"])
        if self._template is not None:
            content = choice.get("text")
            _completion_logprobs(choice.get("logprobs") or {}, record)
        else:
            content = (choice.get("delta") or {}).get("content")
            logprobs = choice.get("logprobs") or {}
            for token in logprobs.get("content") or []:
                if isinstance(token, dict) and isinstance(token.get("logprob"), int | float):
                    record.tokens.append(str(token.get("token", "")))
                    record.logprobs.append(float(token["logprob"]))
        return content if isinstance(content, str) else ""


def _completion_logprobs(logprobs: dict[str, Any], record: StreamRecord) -> None:
    """The legacy completions shape: parallel `tokens` and `token_logprobs` lists."""
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    for token, value in zip(tokens, values, strict=False):
        if isinstance(value, int | float):
            record.tokens.append(str(token))
            record.logprobs.append(float(value))


def _refuses_logprobs(exc: UpstreamError) -> bool:
    return ("HTTP 400" in exc.detail or "HTTP 422" in exc.detail) and "logprob" in exc.detail
