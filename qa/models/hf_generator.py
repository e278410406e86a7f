"""Generator backend for a local Hugging Face causal-LM folder with a chat template."""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.models.chat_tokenizer import count_tokens, load_chat_tokenizer
from qa.models.protocols import ChatMessage

if TYPE_CHECKING:
    from qa.models.openvino_prefill import OpenVinoPrefill

log = logging.getLogger(__name__)

_YES = ("yes", "Yes", " yes", " Yes")
_NO = ("no", "No", " no", " No")


class _StopFlag:
    """A stopping criterion the consumer can trip, so a closed stream frees the CPU."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        return self.event.is_set()


class _TokenLogprobs:
    """A logits processor that records the log-probability of the token greedy decoding
    takes next. Last in the chain, it sees the scores the choice is made from, so the
    best of them is the chosen token's; it changes no score."""

    def __init__(self, into: list[float]) -> None:
        self.into = into

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        self.into.append(float(torch.log_softmax(scores[0].float(), dim=-1).max()))
        return scores


class TransformersGenerator:
    def __init__(
        self,
        folder: Path,
        name: str,
        *,
        dtype: str = "float32",
        prefill: OpenVinoPrefill | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self._name = name
        self._tokenizer, self._defuser = load_chat_tokenizer(folder)
        # float32 by default: measured here (Qwen2.5-0.5B, 2 cores, 1,217-token prompt)
        # bf16 took 19 s to read the prompt and decoded 0.5 tokens/s; fp32 4.6 s and 22/s.
        self._model = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=getattr(torch, dtype), local_files_only=True
        )
        self._model.eval()
        self._prefill = prefill
        self._lock = threading.Lock()
        self._yes_no: tuple[Sequence[int], ...] | None = None

    @property
    def name(self) -> str:
        return self._name

    def count_tokens(self, text: str) -> int:
        return count_tokens(self._tokenizer, text)

    def _encode(self, messages: Sequence[ChatMessage]) -> Any:
        """The chat prompt as model inputs, control-token look-alikes defused."""
        return self._tokenizer.apply_chat_template(
            self._defuser.messages(messages),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )

    def yes_probability(self, messages: Sequence[ChatMessage]) -> float:
        """One forward pass: the reply's first-token probabilities of "yes" and "no"
        in their usual spellings, summed, then normalised against each other."""
        import torch

        if self._yes_no is None:
            self._yes_no = tuple(
                sorted({self._tokenizer.encode(w, add_special_tokens=False)[0] for w in words})
                for words in (_YES, _NO)
            )
        yes, no = self._yes_no
        inputs = self._encode(messages)
        with self._lock, torch.inference_mode():
            logits = self._model(**inputs).logits[0, -1].float()
        scores = torch.log_softmax(logits, dim=-1)
        margin = torch.logsumexp(scores[list(yes)], 0) - torch.logsumexp(scores[list(no)], 0)
        return float(torch.sigmoid(margin))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._encode(messages)
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        stop = _StopFlag()
        pad_id = self._tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self._tokenizer.eos_token_id
        errors: list[BaseException] = []
        processors = LogitsProcessorList([_TokenLogprobs(logprobs)] if logprobs is not None else [])

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    # The prompt read by OpenVINO where there is a reader; the first
                    # token and the rest come from `generate` either way.
                    read_ahead = (
                        self._prefill.read_ahead(inputs["input_ids"], self._model.config)
                        if self._prefill is not None
                        else {}
                    )
                    self._model.generate(
                        **inputs,
                        **read_ahead,
                        max_new_tokens=max_new_tokens,
                        do_sample=False,
                        pad_token_id=pad_id,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([stop]),
                        logits_processor=processors,
                    )
            except BaseException as exc:  # surfaced to the consumer below
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name=f"generate-{self._name}", daemon=True)
        worker.start()
        pieces = 0
        finished = False
        try:
            for piece in streamer:
                if piece:
                    pieces += 1
                    yield piece
            finished = True
        finally:
            stop.event.set()
            # A reader that went away may leave this generator to the garbage collector,
            # which can run in any thread, the worker's included: it cannot join itself.
            if threading.current_thread() is not worker:
                worker.join()
            if not finished:
                log.info("generation stopped after %d pieces: its reader went away", pieces)
        if errors:
            raise errors[0]
