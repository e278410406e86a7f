"""Generator backend: a GGUF file run natively by llama.cpp (llama-cpp-python).

Why beside transformers: the generator presets ship as Q4_K_M GGUF files. transformers
can only dequantise them to float32 and multiply in float32, while llama.cpp keeps the
4-bit weights and multiplies with int8 (VNNI) kernels. On 2 cores it decoded 4.5x faster
with the same time to the first token (`scripts/bench_generate.py`,
docs/PERFORMANCE.md), and it loads in under a second with no conversion step.

Decoding happens in the reader's own thread, one token per `next()`: closing the
iterator stops generation at once, with no worker thread to signal or join.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from qa.models.protocols import ChatMessage
from qa.models.special_tokens import SpecialTokenDefuser

log = logging.getLogger(__name__)


class LlamaCppGenerator:
    def __init__(self, gguf: Path, name: str, *, threads: int = 0, context: int = 4096) -> None:
        from llama_cpp import Llama

        threads = threads or os.cpu_count() or 1
        self._name = name
        self._llm: Any = Llama(
            model_path=str(gguf),
            n_ctx=context,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        if not self._llm.metadata.get("tokenizer.chat_template"):
            raise ValueError(f"generator {gguf} carries no chat template")
        self._defuser = SpecialTokenDefuser(_control_tokens(self._llm))
        # One llama.cpp context holds one sequence: answers take turns.
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        # `logprobs` stays empty: llama.cpp reports them only for a model loaded with
        # every position's logits kept, which costs memory and time on each prompt.
        with self._lock:
            chunks = self._llm.create_chat_completion(
                messages=self._defuser.messages(messages),
                max_tokens=max_new_tokens,
                temperature=0.0,
                repeat_penalty=1.0,
                stream=True,
            )
            pieces = 0
            finished = False
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        pieces += 1
                        yield piece
                finished = True
            finally:
                chunks.close()
                if not finished:
                    log.info("generation stopped after %d pieces: its reader went away", pieces)


def _control_tokens(llm: Any) -> list[str]:
    """The model's control and user-defined tokens, as their text (llama.cpp parses
    them in a rendered prompt just as Hugging Face tokenizers do)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    kinds = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    tokens = []
    for token in range(llm.n_vocab()):
        if llama_cpp.llama_vocab_get_attr(vocab, token) & kinds:
            tokens.append(llm.detokenize([token], special=True).decode("utf-8", "replace"))
    return tokens
