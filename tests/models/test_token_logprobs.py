"""The transformers backend's token log-probabilities, which the confidence model reads:
one per generated token, equal to what the model itself gives the chosen token (the
CTranslate2 backend's are checked against them in test_ct2_generator.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from qa.models.hf_generator import TransformersGenerator
from qa.models.protocols import ChatMessage
from qa.models.registry import generator_folder
from qa.settings import Settings

MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def folder() -> Path:
    return generator_folder("tiny", Settings().cache_dir)


def test_transformers_logprobs_are_the_models_own_for_the_greedy_tokens(folder: Path) -> None:
    import torch

    generator = TransformersGenerator(folder, "tiny")
    logprobs: list[float] = []
    text = "".join(generator.stream(MESSAGES, max_new_tokens=8, logprobs=logprobs))
    assert text.strip() and 1 <= len(logprobs) <= 8
    assert all(-50.0 < value <= 0.0 for value in logprobs)
    # Recompute them with one forward pass over the prompt and the greedy continuation.
    prompt = generator._tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    ids = prompt
    with torch.inference_mode():
        for _ in range(len(logprobs)):
            scores = torch.log_softmax(generator._model(ids).logits[0, -1].float(), dim=-1)
            ids = torch.cat([ids, scores.argmax().view(1, 1)], dim=1)
            expected = float(scores.max())
            assert logprobs[ids.shape[1] - prompt.shape[1] - 1] == pytest.approx(expected, abs=1e-3)
    # Without a list to fill, nothing is recorded and the text is the same.
    assert "".join(generator.stream(MESSAGES, max_new_tokens=8)) == text


@pytest.mark.slow
def test_the_strict_checks_yes_probability_prefers_the_answer_its_quote_shows() -> None:
    """Strict mode's check with the `fast` generator: the right answer is weighed above a
    wrong number and above an answer to another question, in English and Chinese."""
    from qa.answer.verification import verification_messages

    generator = TransformersGenerator(generator_folder("fast", Settings().cache_dir), "fast")
    quote = ["Members may borrow up to 10 books at a time. The loan period is 21 days."]

    def yes(question: str, answer: str, language: Literal["en", "zh"] = "en") -> float:
        return generator.yes_probability(verification_messages(question, answer, quote, language))

    right = yes("How long is the loan period?", "The loan period is 21 days. [1]")
    assert 0.0 < right < 1.0
    assert right > yes("How long is the loan period?", "The loan period is 7 days. [1]")
    assert right > yes("How much is the late fee?", "The loan period is 21 days. [1]")
    assert yes("借阅期限是多久？", "借阅期限为21天。[1]", "zh") > yes(
        "逾期罚款是多少？", "借阅期限为21天。[1]", "zh"
    )
