"""Embedder backend: an OpenAI-compatible `/v1/embeddings` server (TEI, vLLM, Ollama,
llama.cpp's server, another `qa serve`).

Texts go in batches, several batches in flight at once, so ingestion grows with
the replicas behind the URL instead of this process's cores. The manifest records
the model's name as served and a fingerprint of that name and the dimension, not
the URL: replicas behind different addresses embed the same space, and a
collection built with any other embedder (a local one included: this process
cannot see the remote weights) is refused. Rows come back normalised whatever the
engine does, so inner product stays cosine similarity.

Several URLs are replicas of one model: batches start on them in turn, each URL
with its own bound on requests in flight, and a batch whose URL fails goes to the
next one before it fails (embedding twice is harmless). A URL that failed is tried
last for a while, so a replica that is down costs its first batches, not every one.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, get_args

import numpy as np
from tqdm import tqdm

from qa.errors import UpstreamError, UpstreamUnavailableError
from qa.models.protocols import EmbedderInfo, Vectors
from qa.models.remote_client import EngineClient
from qa.models.token_estimate import estimate_tokens
from qa.text import Language

log = logging.getLogger(__name__)

_SUSPECT_S = 10.0
"""How long a URL that failed is tried after the others."""


def fingerprint(model: str, dimension: int) -> str:
    return hashlib.sha256(f"remote-embedder\0{model}\0{dimension}".encode()).hexdigest()


class _Replica:
    """One URL: its client, its slots for requests in flight, when it last failed."""

    def __init__(self, client: EngineClient, concurrency: int) -> None:
        self.client = client
        self.slots = threading.Semaphore(concurrency)
        self.failed_at = -_SUSPECT_S

    def suspect(self, now: float) -> bool:
        return now - self.failed_at < _SUSPECT_S


class RemoteEmbedder:
    def __init__(
        self,
        clients: Sequence[EngineClient],
        model: str,
        *,
        batch_size: int = 64,
        concurrency: int = 4,
        evidence_floor: float = 0.3,
        paraphrase_floor: float = 0.55,
        query_prefix: str = "",
        passage_prefix: str = "",
        input_type: bool = False,
        max_tokens: int = 512,
    ) -> None:
        if not clients:
            raise ValueError("a remote embedder needs at least one engine")
        self._replicas = [_Replica(client, concurrency) for client in clients]
        self._turn = itertools.count()
        self._model = model
        self._batch_size = batch_size
        self._pool = ThreadPoolExecutor(
            concurrency * len(clients), thread_name_prefix="remote-embed"
        )
        self._evidence_floor = evidence_floor
        self._paraphrase_floor = paraphrase_floor
        self._prefixes = {"query": query_prefix, "passage": passage_prefix}
        self._input_type = input_type
        self._max_tokens = max_tokens
        self._info: EmbedderInfo | None = None
        self._info_lock = threading.Lock()

    @property
    def _where(self) -> str:
        if len(self._replicas) == 1:
            return self._replicas[0].client.where
        return "the embedder engines at " + ", ".join(r.client.host for r in self._replicas)

    @property
    def clients(self) -> list[EngineClient]:
        return [replica.client for replica in self._replicas]

    @property
    def info(self) -> EmbedderInfo:
        """Probed with one real embedding the first time it is asked for: the
        dimension is whatever the served model produces."""
        with self._info_lock:
            if self._info is None:
                dimension = int(self._request(["dimension probe"], "passage").shape[1])
                sha256 = fingerprint(self._model, dimension)
                self._info = EmbedderInfo(name=self._model, dimension=dimension, sha256=sha256)
            return self._info

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def languages(self) -> frozenset[str]:
        # Which languages the served model understands is the operator's choice of model.
        return frozenset(get_args(Language))

    @property
    def evidence_floor(self) -> float:
        return self._evidence_floor

    @property
    def paraphrase_floor(self) -> float:
        return self._paraphrase_floor

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        return self._embed(texts, "passage", progress)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, "query", False)

    def _embed(self, texts: Sequence[str], kind: str, progress: bool) -> Vectors:
        dimension = self.info["dimension"]
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        batches = [
            list(texts[start : start + self._batch_size])
            for start in range(0, len(texts), self._batch_size)
        ]
        futures = [self._pool.submit(self._request, batch, kind) for batch in batches]
        try:
            bar = tqdm(futures, disable=not progress, unit="batch")
            parts = [future.result() for future in bar]
        finally:
            # After a failed batch, those still queued are not sent for nothing.
            for future in futures:
                future.cancel()
        vectors = np.vstack(parts)
        if vectors.shape[1] != dimension:
            raise UpstreamError(
                f"{self._where} returned {vectors.shape[1]}-d vectors for model "
                f"{self._model!r}, which gave {dimension}-d ones before: was it replaced?"
            )
        return vectors

    def _request(self, texts: list[str], kind: str) -> Vectors:
        prefix = self._prefixes[kind]
        body: dict[str, Any] = {
            "model": self._model,
            "input": [prefix + t for t in texts],
            "encoding_format": "float",
        }
        if self._input_type:
            body["input_type"] = kind
        return self._post(body, len(texts))

    def _post(self, body: dict[str, Any], expected: int) -> Vectors:
        """On the replica whose turn it is (or the next with a free slot), then once on
        each other one; last, where the first was only unavailable (refused, overloaded),
        on the first again with the client's retries and backoff: with one URL, exactly
        the client's own retries."""
        first, *others = self._order()
        failures: list[UpstreamError] = []
        for replica in [first, *others] if others else []:
            try:
                return self._post_to(replica, body, expected, retries=0)
            except UpstreamError as exc:
                log.info("an embedding batch failed: %s", exc.detail)
                failures.append(exc)
        if failures and not isinstance(failures[0], UpstreamUnavailableError):
            raise _all_failed(failures)
        try:
            return self._post_to(first, body, expected, retries=None)
        except UpstreamError as exc:
            raise _all_failed([exc, *failures[1:]]) from None

    def _order(self) -> list[_Replica]:
        """The replicas from the one whose turn it is, those that failed lately last;
        the first with a free slot leads."""
        start = next(self._turn) % len(self._replicas)
        now = time.monotonic()
        turn = self._replicas[start:] + self._replicas[:start]
        order = sorted(turn, key=lambda replica: replica.suspect(now))
        free = next((r for r in order if r.slots.acquire(blocking=False)), None)
        if free is None:
            return order
        free.slots.release()
        return [free, *(r for r in order if r is not free)]

    def _post_to(
        self, replica: _Replica, body: dict[str, Any], expected: int, *, retries: int | None
    ) -> Vectors:
        with replica.slots:
            try:
                reply = replica.client.post_json("/embeddings", body, retries=retries)
                return _normalised(self._vectors(replica.client, reply, expected))
            except UpstreamError:
                replica.failed_at = time.monotonic()
                raise

    def _vectors(self, client: EngineClient, reply: Any, expected: int) -> Vectors:
        where = client.where
        try:
            rows = sorted(reply["data"], key=lambda row: int(row["index"]))
            vectors = [_decode(row["embedding"]) for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"{where} sent an embeddings reply without {exc}") from None
        if len(vectors) != expected or len({len(v) for v in vectors}) != 1:
            raise UpstreamError(
                f"{where} returned {len(vectors)} vectors of sizes "
                f"{sorted({len(v) for v in vectors})} for {expected} texts"
            )
        return np.asarray(vectors, dtype=np.float32)


def _all_failed(failures: list[UpstreamError]) -> UpstreamError:
    """The first failure's type (its status), naming the other replicas' failures too."""
    head, *rest = failures
    if not rest:
        return head
    also = "; ".join(exc.detail for exc in rest)
    return type(head)(f"{head.detail}; also {also}")


def _decode(embedding: Any) -> list[float]:
    """A list of floats, or the base64 little-endian float32 some engines send."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4").tolist()
    return [float(x) for x in embedding]


def _normalised(vectors: Vectors) -> Vectors:
    if not np.all(np.isfinite(vectors)):
        raise UpstreamError("an embedding engine returned vectors that are not finite")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
