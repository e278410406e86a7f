"""The answer pipeline around the model: the extractive fallback when the draft is
declined, and refusal below the calibrated confidence. Fast: a hashing embedder and a
scripted generator."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path

import pytest

from qa.answer import pipeline as pipeline_module
from qa.answer.confidence import STRICT_WEIGHTS_FILE, Calibration
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

    def __init__(self, reply: str, token_logprobs: tuple[float, ...] = ()) -> None:
        self.reply = reply
        self.token_logprobs = token_logprobs
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        self.prompts.append(messages[-1]["content"])
        yield self.reply
        if logprobs is not None:
            logprobs.extend(self.token_logprobs)


def _pipeline(
    tmp_path: Path, reply: str, token_logprobs: tuple[float, ...] = (), **settings: object
) -> tuple[AskPipeline, Scripted]:
    runtime = Runtime(
        Settings(index_dir=tmp_path, embedder="hashing", audit=False, **settings)  # type: ignore[arg-type]
    )
    runtime.add_embedder(HashingEmbedder())
    runtime.ingest_documents([Document("leaflet", LEAFLET)], "docs", progress=False)
    generator = Scripted(reply, token_logprobs)
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


def test_the_drafts_logprobs_reach_the_confidence_features(tmp_path: Path) -> None:
    """A sure draft and an unsure one differ in confidence by their log-probabilities alone."""
    calibration = Calibration({"lp_mean": 1.0}, 3.0, 0.5)
    scores = []
    for name, logprobs in (("sure", (-0.1, -0.1)), ("unsure", (-5.0, -3.0))):
        pipeline, _ = _pipeline(tmp_path / name, "Take one tablet twice a day with food.", logprobs)
        query = pipeline.open("How often do I take a tablet?", "docs")
        *_, judged = pipeline.judged(query)
        assert isinstance(judged, pipeline_module.Judged)
        assert judged.features["lp_min"] == min(logprobs)
        scores.append(calibration.score(judged.features))
    assert scores[0] > 0.9 > 0.5 > scores[1]


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


class Judging(Scripted):
    """A scripted generator that also answers strict mode's yes/no check."""

    def __init__(self, reply: str, yes: float) -> None:
        super().__init__(reply)
        self.yes = yes
        self.checked: list[str] = []

    def yes_probability(self, messages: Sequence[ChatMessage]) -> float:
        self.checked.append(messages[-1]["content"])
        return self.yes


def test_strict_mode_scores_the_answer_by_its_check_and_refuses_a_doubted_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strict = Calibration({"verified": 6.0}, -3.0, 0.5)
    monkeypatch.setattr(
        pipeline_module,
        "load_calibration",
        lambda path=None: strict if path == STRICT_WEIGHTS_FILE else None,
    )
    reply = "Take one tablet twice a day with food."
    outcomes = {}
    for yes in (0.9, 0.1):
        pipeline, _ = _pipeline(tmp_path / str(yes), reply, verification=True)
        judge = Judging(reply, yes)
        pipeline.models._generator = judge  # type: ignore[attr-defined]
        *_, judged = pipeline.judged(pipeline.open("How often do I take a tablet?", "docs"))
        assert isinstance(judged, pipeline_module.Judged)
        assert judged.features["verified"] == yes and "verification_s" in judged.answer.timings
        # The check read the answer's quote and the question, not the whole prompt.
        assert len(judge.checked) == 1 and "How often do I take a tablet?" in judge.checked[0]
        assert "Take one tablet twice a day with food." in judge.checked[0]
        outcomes[yes] = judged.answer
    assert outcomes[0.9].found and outcomes[0.9].confidence == pytest.approx(
        strict.score({"verified": 0.9})
    )
    assert not outcomes[0.1].found and outcomes[0.1].confidence is not None
    # A threshold of 0 set by hand keeps every answer, strict or not (evaluation runs).
    kept, _ = _pipeline(tmp_path / "kept", reply, verification=True, confidence_threshold=0)
    kept.models._generator = Judging(reply, 0.1)  # type: ignore[attr-defined]
    assert kept.ask("How often do I take a tablet?", "docs").found
    # Off (the default), the check never runs.
    pipeline, _ = _pipeline(tmp_path / "off", reply)
    judge = Judging(reply, 0.1)
    pipeline.models._generator = judge  # type: ignore[attr-defined]
    assert pipeline.ask("How often do I take a tablet?", "docs").found and not judge.checked


def test_strict_mode_with_a_generator_that_cannot_judge_says_so_and_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline, _ = _pipeline(tmp_path, "Take one tablet twice a day with food.", verification=True)
    with caplog.at_level("WARNING", logger="qa.answer.pipeline"):
        for _ in range(2):
            *_, judged = pipeline.judged(pipeline.open("How often do I take a tablet?", "docs"))
            assert isinstance(judged, pipeline_module.Judged) and judged.answer.found
            assert "verified" not in judged.features
    told = [r.message for r in caplog.records if "strict mode" in r.message]
    assert told == ["strict mode is on, but scripted cannot weigh yes against no"]
