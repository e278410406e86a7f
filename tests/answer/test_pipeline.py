"""The answer pipeline around the model: the extractive fallback when the draft is
declined, and refusal below the calibrated confidence. Fast: a hashing embedder and a
scripted generator."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path

import pytest

from qa.answer import pipeline as pipeline_module
from qa.answer.confidence import Calibration
from qa.answer.pipeline import AskPipeline
from qa.models.protocols import ChatMessage
from qa.records import Document
from qa.runtime import Runtime
from qa.settings import Settings
from tests.conftest import HashingEmbedder

LEAFLET = (
    "Take one tablet twice a day with food. Do not drive or operate machinery after "
    "taking it. Store below 25 degrees."
)

LONG = (
    LEAFLET
    + " "
    + " ".join(f"Section {n} of the leaflet describes the tablets' packaging." for n in range(20))
)


class Scripted:
    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int
    ) -> Generator[str, None, None]:
        self.prompts.append(messages[-1]["content"])
        yield self.reply


def _pipeline(tmp_path: Path, reply: str, **settings: object) -> tuple[AskPipeline, Scripted]:
    runtime = Runtime(
        Settings(index_dir=tmp_path, embedder="hashing", audit=False, **settings)  # type: ignore[arg-type]
    )
    runtime.add_embedder(HashingEmbedder())
    runtime.ingest_documents([Document("leaflet", LEAFLET)], "docs", progress=False)
    generator = Scripted(reply)
    runtime._generator = generator
    return AskPipeline(runtime), generator


def test_a_declined_yes_no_question_is_answered_from_the_evidence(tmp_path: Path) -> None:
    pipeline, _ = _pipeline(tmp_path, "The passages do not say.")
    answer = pipeline.ask("Can I drive after taking it?", "docs")
    assert answer.found
    assert answer.answer == "No. Do not drive or operate machinery after taking it. [1]"


def test_without_extraction_a_declined_draft_is_not_found(tmp_path: Path) -> None:
    pipeline, _ = _pipeline(tmp_path, "The passages do not say.", extraction=False)
    assert not pipeline.ask("Can I drive after taking it?", "docs").found


def test_answers_below_the_threshold_are_refused_with_their_confidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calibration = Calibration({"grounded": 4.0}, -2.0, 0.5)
    monkeypatch.setattr(pipeline_module, "load_calibration", lambda: calibration)
    pipeline, _ = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    answer = pipeline.ask("How often do I take a tablet?", "docs")
    assert answer.found and answer.confidence == pytest.approx(calibration.score({"grounded": 1}))
    declined, _ = _pipeline(
        tmp_path / "b", "Nothing here.", extraction=False, confidence_threshold=0.5
    )
    refused = declined.ask("How often do I take a tablet?", "docs")
    assert not refused.found and refused.confidence is not None and refused.confidence < 0.5
    strict, _ = _pipeline(tmp_path / "c", "Take one tablet twice a day with food.")
    strict.models.settings.confidence_threshold = 0.99
    assert not strict.ask("How often do I take a tablet?", "docs").found


def test_the_compressed_prompt_holds_the_best_sentences_within_budget(tmp_path: Path) -> None:
    pipeline, generator = _pipeline(
        tmp_path, "Store below 25 degrees.", evidence_selection=True, evidence_tokens=64
    )
    whole, full = _pipeline(tmp_path / "whole", "Store below 25 degrees.", evidence_selection=False)
    for p in (pipeline, whole):
        p.models.ingest_documents([Document("long", LONG)], "docs", progress=False)
        p.ask("How do I store the tablets?", "docs")
    assert "Store below 25 degrees." in generator.prompts[0]
    assert len(generator.prompts[0].split()) < 100 < len(full.prompts[0].split())
