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
    follow_up_kind,
    load_gate,
    sentence_similarity,
)
from qa.answer.pipeline import Judged
from qa.answer.prompts import Passage
from qa.records import SearchHit, StoredChunk, Turn
from tests.answer.test_pipeline import _pipeline
from tests.conftest import HashingEmbedder

QUESTION = "How often do I take a tablet?"


def test_a_question_below_the_gate_is_refused_without_generating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = frozenset({("hashing", "en")})
    gate = GateCalibration(Calibration({"sentence_similarity": 0.0}, -5.0, 0.5), pairs)
    monkeypatch.setattr(gate_module, "load_gate", lambda: gate)
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    answer = pipeline.ask(QUESTION, "docs")
    assert not answer.found
    assert generator.prompts == []
    assert answer.confidence == pytest.approx(gate.calibration.score({}))
    assert "answerability_s" in answer.timings


@pytest.mark.parametrize(
    ("bias", "pairs", "settings", "gated"),
    [
        pytest.param(5.0, {("hashing", "en")}, {}, True, id="above the threshold"),
        pytest.param(-5.0, {("hashing", "en")}, {"answerability_threshold": 0}, True, id="zero"),
        pytest.param(-5.0, {("minilm", "en")}, {}, False, id="an embedder it was not fitted on"),
        pytest.param(-5.0, {("hashing", "zh")}, {}, False, id="a language it was not fitted on"),
    ],
)
def test_the_question_reaches_the_generator(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bias: float,
    pairs: set[tuple[str, str]],
    settings: dict[str, object],
    gated: bool,
) -> None:
    """Above the threshold, at threshold 0, or where the weights do not apply; only
    where they apply are the candidate sentences embedded for their similarity."""
    gate = GateCalibration(Calibration({"sentence_similarity": 0.0}, bias, 0.5), frozenset(pairs))
    monkeypatch.setattr(gate_module, "load_gate", lambda: gate)
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.", **settings)
    *_, judged = pipeline.judged(pipeline.open(QUESTION, "docs"))
    assert isinstance(judged, Judged)
    assert judged.answer.found
    assert len(generator.prompts) == 1
    assert ("sentence_similarity" in judged.features) == gated


@pytest.mark.parametrize(
    ("earlier", "follow_up", "rewritten", "as_asked", "found"),
    [
        ("What is in the leaflet?", "Should the tablets be taken with food?", 0.2, 0.4, False),
        ("What is in the leaflet?", "Should the tablets be taken with food?", 0.4, 0.2, True),
        ("What about the blood pressure tablet?", "How often do I take it?", 0.2, 0.4, True),
        ("What about the blood pressure tablet?", "How often do I take it?", 0.4, 0.2, False),
    ],
)
def test_a_follow_up_is_held_to_the_threshold_of_its_kind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    earlier: str,
    follow_up: str,
    rewritten: float,
    as_asked: float,
    found: bool,
) -> None:
    """A follow-up whose query carries the earlier turns' terms scores lower than one
    asked alone; one the contextualiser left as asked has a threshold of its own. The
    score here is 0.27 (bias -1), the single-question threshold 0.5."""
    gate = GateCalibration(
        Calibration({"sentence_similarity": 0.0}, -1.0, 0.5),
        frozenset({("hashing", "en")}),
        rewritten,
        as_asked,
    )
    monkeypatch.setattr(gate_module, "load_gate", lambda: gate)
    pipeline, generator = _pipeline(tmp_path, "Take one tablet twice a day with food.")
    assert not pipeline.ask(follow_up, "docs").found
    history = [Turn("user", earlier), Turn("assistant", "Tablets.")]
    answer = pipeline.ask(follow_up, "docs", history=history)
    assert (answer.standalone_question != follow_up) == follow_up.endswith("it?")
    assert answer.found == found
    assert len(generator.prompts) == int(found)


def test_follow_up_kind() -> None:
    assert follow_up_kind("How often?", "How often?", []) is None
    assert follow_up_kind("How often?", " How often? ", [Turn("user", "Hi")]) == "as_asked"
    assert follow_up_kind("tablet How often?", "How often?", [Turn("user", "Hi")]) == "rewritten"


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
    assert gate.as_asked_threshold is not None
    assert 0.0 < gate.threshold("rewritten") < gate.threshold(None)
    assert 0.0 < gate.threshold("as_asked") < gate.threshold(None)
