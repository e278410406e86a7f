"""Settings of the remote engines: an OpenAI-compatible server (vLLM, TGI, Ollama,
llama.cpp's server) generating answers, and one (TEI, vLLM, Ollama, another
`qa serve`) embedding passages and queries. Part of the one `Settings` object.

A URL set selects the remote engine; unset, the local models run as before."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from qa.errors import ModelNotAvailableError


class RemoteSettings(BaseSettings):
    generator_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible server that generates the answers "
        "(e.g. http://gpu1:8000/v1; a URL with no path gets /v1). Set, it replaces the "
        "local generator and `generator_backend`.",
    )
    generator_model: str | None = Field(
        default=None, description="The model name the generator server serves (its /models)."
    )
    generator_api_key: SecretStr | None = Field(
        default=None, description="Sent as `Authorization: Bearer`; never logged."
    )
    generator_api_key_file: Path | None = Field(
        default=None, description="A file holding the generator's API key (a mounted secret)."
    )
    generator_logprobs: bool = Field(
        default=True,
        description="Ask the generator for token log-probabilities; an engine that refuses "
        "them is asked again without, once per process.",
    )
    generator_template: str | None = Field(
        default=None,
        description="For an engine serving a model without a chat template: 'chatml' or a "
        "Jinja chat-template file; set, raw prompts rendered here go to /v1/completions "
        "instead of messages to /v1/chat/completions.",
    )
    embedder_url: str | list[str] | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible /v1/embeddings server, or a list of "
        "replicas serving the same model (JSON in the environment: "
        'QA_EMBEDDER_URL=\'["http://gpu1:8080/v1", "http://gpu2:8080/v1"]\'), which share '
        "the batches. Set, every collection this process embeds or searches uses it (the "
        "manifest refuses a collection built with another embedder).",
    )
    embedder_model: str | None = Field(
        default=None, description="The embedding model name the server serves."
    )
    embedder_api_key: SecretStr | None = Field(default=None)
    embedder_api_key_file: Path | None = Field(default=None)
    embedder_query_prefix: str = Field(
        default="", description="Prepended to queries, e.g. 'query: ' for e5 models on TEI."
    )
    embedder_passage_prefix: str = Field(
        default="", description="Prepended to passages, e.g. 'passage: ' for e5 models."
    )
    embedder_input_type: bool = Field(
        default=False,
        description="Send `input_type: query|passage` (what `qa serve`'s /v1/embeddings "
        "understands, so its e5 embeds queries as queries); most engines do not know it.",
    )
    embedder_evidence_floor: float = Field(
        default=0.3,
        ge=-1.0,
        le=1.0,
        description="Cosine below which a passage is no evidence. Depends on the model: "
        "MiniLM 0.3, e5 0.85; measure yours (scripts/eval, docs/EVALUATION.md).",
    )
    embedder_paraphrase_floor: float = Field(
        default=0.55,
        ge=-1.0,
        le=1.0,
        description="Sentence cosine from which two sentences say the same thing. Depends "
        "on the model: MiniLM 0.55, e5 0.93.",
    )
    remote_embed_batch: int = Field(
        default=64, ge=1, le=2048, description="Texts in one embedding request."
    )
    remote_embed_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Embedding requests in flight at once to each embedder URL: about the "
        "number of replicas (or GPU batches) behind it.",
    )
    remote_connect_timeout_s: float = Field(default=5.0, gt=0)
    remote_read_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Longest silence from an engine: the first token (prefill of the "
        "prompt) and every gap between tokens or between embedding replies; past it, 504.",
    )
    remote_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries, with backoff, of a request that failed before any of its "
        "reply arrived (refused, reset, 502/503/429); never once text has been streamed.",
    )
    remote_max_connections: int = Field(default=16, ge=1, le=1024)
    embeddings_max_inputs: int = Field(
        default=256, ge=1, description="Texts one POST /v1/embeddings may send (413 past it)."
    )
    embeddings_max_chars: int = Field(
        default=20_000, ge=1, description="Characters of one text sent to POST /v1/embeddings."
    )

    @property
    def embedder_urls(self) -> list[str]:
        """`embedder_url` as a list, whichever way it was given."""
        if self.embedder_url is None:
            return []
        if isinstance(self.embedder_url, str):
            return [self.embedder_url]
        return list(self.embedder_url)


def read_key(key: SecretStr | None, key_file: Path | None, what: str) -> SecretStr | None:
    """The key itself wins over the file; a file that cannot be read is a setup error
    named by path, never by content."""
    if key is not None:
        return key
    if key_file is None:
        return None
    try:
        return SecretStr(key_file.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ModelNotAvailableError(
            f"the {what} API key file {key_file} cannot be read: {exc.strerror}"
        ) from None
