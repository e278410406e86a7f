"""The pluggable model roles. Backends live one per module beside this file."""

from __future__ import annotations

import collections.abc
from collections.abc import Sequence
from typing import Protocol, TypedDict, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class EmbedderInfo(TypedDict):
    """What a collection's manifest records, so a later reader can refuse a mismatch."""

    name: str
    dimension: int
    sha256: str


class Embedder(Protocol):
    @property
    def info(self) -> EmbedderInfo: ...

    @property
    def max_tokens(self) -> int: ...

    @property
    def languages(self) -> frozenset[str]:
        """Languages whose similarity scores mean something (MiniLM: English only)."""
        ...

    @property
    def evidence_floor(self) -> float:
        """Cosine below which a passage is no evidence: each model has its own score band."""
        ...

    @property
    def paraphrase_floor(self) -> float:
        """Sentence-to-sentence cosine from which two sentences say the same thing:
        the bar an answer sentence must clear to count as supported by meaning."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        """Unit-length rows, so inner product is cosine similarity."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...


class ChatMessage(TypedDict):
    role: str
    content: str


class Generator(Protocol):
    @property
    def name(self) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> collections.abc.Generator[str, None, None]:
        """Yield text pieces as they are decoded; closing the generator stops generation.

        Given a `logprobs` list, a backend that can appends each generated token's
        log-probability to it, by the time the generator is exhausted or closed: how sure
        the model was of its draft is one of the confidence model's signals. A backend
        that cannot leaves it empty.
        """
        ...


@runtime_checkable
class YesNoJudge(Protocol):
    """A generator that can weigh "yes" against "no" as its next token (strict mode,
    qa/answer/verification.py). Backends that only stream text do without it."""

    def yes_probability(self, messages: Sequence[ChatMessage]) -> float:
        """P(yes) / (P(yes) + P(no)) for the reply's first token."""
        ...
