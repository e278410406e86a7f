"""POST /v1/embeddings: this service's own local embedders for other programs (another
`qa` embedding through QA_EMBEDDER_URL, or any OpenAI client), so one machine can
embed for several. Always the local model named, never a remote engine this
process may itself be pointed at."""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter

from qa.api.deps import StateDep
from qa.api.embedding_schemas import EmbeddingOut, EmbeddingsBody, EmbeddingsOut, UsageOut
from qa.api.security import KeyDep, authorize
from qa.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from qa.models.embedders import E5_PRESET, EMBEDDER_PRESETS
from qa.models.protocols import Vectors

router = APIRouter(prefix="/v1", tags=["embeddings"])

SERVED = (*EMBEDDER_PRESETS, E5_PRESET[0])


@router.post("/embeddings", summary="Embed texts with a local embedder (OpenAI shape).")
async def embeddings(body: EmbeddingsBody, state: StateDep, key: KeyDep) -> EmbeddingsOut:
    authorize(key, None, "reader")
    if body.model not in SERVED:
        raise NotFoundError(f"no embedder {body.model!r} here; this server embeds with {SERVED}")
    texts = [body.input] if isinstance(body.input, str) else body.input
    limits = state.settings
    if not texts:
        raise InvalidInputError("input: give at least one text")
    if len(texts) > limits.embeddings_max_inputs:
        raise PayloadTooLargeError(
            f"input: {len(texts)} texts; at most {limits.embeddings_max_inputs} in one request"
        )
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidInputError(f"input[{i}]: an empty text has no embedding")
        if len(text) > limits.embeddings_max_chars:
            raise PayloadTooLargeError(
                f"input[{i}]: {len(text)} characters; at most {limits.embeddings_max_chars}"
            )

    def run() -> tuple[Vectors, int]:
        embedder = state.runtime.local_embedder(body.model)
        vectors = (
            embedder.embed_queries(texts)
            if body.input_type == "query"
            else embedder.embed_passages(texts)
        )
        return vectors, sum(embedder.count_tokens(t) for t in texts)

    vectors, tokens = await state.run_search(run)
    data = [
        EmbeddingOut(index=i, embedding=_encoded(row, body.encoding_format))
        for i, row in enumerate(vectors)
    ]
    usage = UsageOut(prompt_tokens=tokens, total_tokens=tokens)
    return EmbeddingsOut(data=data, model=body.model, usage=usage)


def _encoded(row: Vectors, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in np.asarray(row, dtype=np.float32)]
