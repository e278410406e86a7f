"""Generator backend: the converted Hugging Face folder run by CTranslate2 with int8 weights.

Why: on 2 cores the time to the first token is spent reading the prompt, a product of
float32 matrices in transformers. CTranslate2 stores each weight matrix as int8 with one
scale per output channel and multiplies with int8 kernels; unlike dynamic int8 in torch
(one activation scale per tensor, which broke answers here) its quantisation keeps greedy
answers close to float32 (scripts/bench_generate.py measures both, docs/PERFORMANCE.md).

The int8 model is converted once from the cached folder (seconds) into a sibling folder,
built in a temp dir and renamed into place, like the GGUF conversion. Decoding happens in
CTranslate2's own thread; leaving the token loop stops it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from qa.models.chat_tokenizer import count_tokens, load_chat_tokenizer
from qa.models.conversion import build_once
from qa.models.protocols import ChatMessage

log = logging.getLogger(__name__)

QUANTIZATION = "int8"


def convert_ct2(folder: Path, cache_dir: Path) -> Path:
    """The CTranslate2 int8 copy of a Hugging Face folder, converted once into the cache."""

    def convert(out: Path) -> None:
        from ctranslate2.converters import TransformersConverter

        TransformersConverter(str(folder)).convert(str(out), quantization=QUANTIZATION, force=True)

    return build_once(
        cache_dir / "generators" / f"{folder.name}-ct2-{QUANTIZATION}",
        convert,
        marker=str(folder),
        what=f"{folder.name} for CTranslate2 ({QUANTIZATION})",
    )


class CTranslate2Generator:
    def __init__(self, folder: Path, model: Path, name: str, *, threads: int = 0) -> None:
        import ctranslate2

        self._name = name
        self._tokenizer, self._defuser = load_chat_tokenizer(folder)
        self._generator: Any = ctranslate2.Generator(
            str(model),
            device="cpu",
            compute_type=QUANTIZATION,
            intra_threads=threads or os.cpu_count() or 1,
        )
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def count_tokens(self, text: str) -> int:
        return count_tokens(self._tokenizer, text)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        ids = self._tokenizer.apply_chat_template(
            self._defuser.messages(messages), add_generation_prompt=True, return_dict=True
        )["input_ids"]
        prompt = self._tokenizer.convert_ids_to_tokens(ids)
        end = self._tokenizer.eos_token
        with self._lock:
            steps = self._generator.generate_tokens(
                prompt,
                max_length=max_new_tokens,
                sampling_topk=1,
                end_token=end,
                return_log_prob=logprobs is not None,
            )
            new: list[int] = []
            sent = ""
            finished = False
            try:
                for step in steps:
                    new.append(step.token_id)
                    if logprobs is not None and step.log_prob is not None:
                        logprobs.append(float(step.log_prob))
                    text = self._tokenizer.decode(new, skip_special_tokens=True)
                    # A character split across tokens decodes to U+FFFD until it is whole.
                    if text.endswith("\ufffd") or len(text) <= len(sent):
                        continue
                    piece, sent = text[len(sent) :], text
                    yield piece
                finished = True
            finally:
                if not finished:
                    steps.close()
                    log.info("generation stopped after %d tokens: its reader went away", len(new))
