"""The answerability gate: a question scored below it is refused before the generator
runs; the gate applies only to the embedders its weights were fitted on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.answer import gate as gate_module
from qa.answer.confidence import Calibration
from qa.answer.extraction import candidates
from qa.answer.gate import (
    GATE_FEATURES,
    GATE_WEIGHTS_FILE,
    GateCalibration,
    load_gate,
    sentence_similarity,
)
from qa.answer.prompts import Passage
from qa.records import SearchHit, StoredChunk, Turn
from tests.answer.test_pipeline import _pipeline
from tests.conftest import HashingEmbedder

QUESTION = "How often do I take a tablet?"


def _gate(monkeypatch: pytest.MonkeyPatch, bias: float, embedders: set[str]) -> GateCalibration:
    pairs = frozenset((e, "en") for e in embedders)
    gate = GateCalibration(Calibration({"sentence_similarity": 0.0}, bias, 0.5), pairs)
    monkeypatch.setattr(gate_module, "load_gate", lambda: gate)
    return gate


def test_a_question_below_the_gate_is_refused_without_generating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _gate(monkeypatch, -5.0, {"hashing"})
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    answer = pipeline.ask(QUESTION, "docs")
    assert not answer.found
    assert generator.prompts == []
    assert answer.confidence == pytest.approx(gate.calibration.score({}))
    assert "answerability_s" in answer.timings


def test_a_question_above_the_gate_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gate(monkeypatch, 5.0, {"hashing"})
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    assert pipeline.ask(QUESTION, "docs").found
    assert len(generator.prompts) == 1


def test_the_gate_leaves_alone_an_embedder_it_was_not_fitted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gate(monkeypatch, -5.0, {"minilm"})
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    assert pipeline.ask(QUESTION, "docs").found
    assert len(generator.prompts) == 1


def test_the_gate_leaves_alone_a_language_it_was_not_fitted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = GateCalibration(
        Calibration({"sentence_similarity": 0.0}, -5.0, 0.5), frozenset({("hashing", "zh")})
    )
    monkeypatch.setattr(gate_module, "load_gate", lambda: gate)
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    assert pipeline.ask(QUESTION, "docs").found
    assert len(generator.prompts) == 1


def test_a_zero_threshold_refuses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _gate(monkeypatch, -5.0, {"hashing"})
    pipeline, generator = _pipeline(
        tmp_path, "Take one tablet twice a day with food.", answerability_threshold=0
    )
    assert pipeline.ask(QUESTION, "docs").found
    assert len(generator.prompts) == 1


def test_a_follow_up_is_held_to_its_own_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversation's follow-up scores lower for the earlier turns' terms its query
    carries; the weights give it its own threshold."""
    gate = GateCalibration(
        Calibration({"sentence_similarity": 0.0}, -1.0, 0.5), frozenset({("hashing", "en")}), 0.2
    )
    monkeypatch.setattr(gate_module, "load_gate", lambda: gate)
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    assert not pipeline.ask(QUESTION, "docs").found
    history = [Turn("user", "What is in the leaflet?"), Turn("assistant", "Tablets.")]
    assert pipeline.ask(QUESTION, "docs", history=history).found
    assert len(generator.prompts) == 1


def _passage(text: str) -> Passage:
    chunk = StoredChunk(1, "leaflet", 0, 0, len(text), None, None, text, "Leaflet", {})
    return Passage(1, SearchHit(chunk, 1.0), text)


def test_sentence_similarity_is_the_closest_candidate_sentence() -> None:
    embedder = HashingEmbedder()
    passage = _passage("Store below 25 degrees. How often do I take a tablet? Keep it dry.")
    found = candidates(QUESTION, [passage])
    assert sentence_similarity(QUESTION, found, embedder) == pytest.approx(1.0, abs=1e-5)
    others = [c for c in found if c.sentence != QUESTION]
    assert sentence_similarity(QUESTION, others, embedder) < 0.9
    assert sentence_similarity(QUESTION, [], embedder) == 0.0


def test_weights_must_name_their_embedders_and_use_only_features_known_before_generating() -> None:
    weights = {"weights": {"dense_top": 1.0}, "bias": 0.0, "threshold": 0.5}
    with pytest.raises(ValueError, match="embedders"):
        GateCalibration.from_dict(weights)
    late = {**weights, "weights": {"grounded": 1.0}, "applies_to": {"minilm": ["en"]}}
    with pytest.raises(ValueError, match="post-generation"):
        GateCalibration.from_dict(late)


def test_the_shipped_weights_cover_the_packaged_embedders() -> None:
    gate = load_gate(GATE_WEIGHTS_FILE)
    assert gate is not None
    assert gate.applies_to == {("minilm", "en"), ("e5-multilingual", "zh")}
    assert set(gate.calibration.weights) == set(GATE_FEATURES)
    assert 0.0 < gate.calibration.threshold < 1.0
    data = json.loads(GATE_WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert data["fitted_on"] == {"clapnq": "dev", "covidqa": "dev", "cmrc2018": "dev"}
    assert gate.follow_up_threshold is not None
    assert 0.0 < gate.threshold(follow_up=True) < gate.threshold(follow_up=False)
