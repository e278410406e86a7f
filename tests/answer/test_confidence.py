"""Calibrated confidence: the logistic score on fixed features, the weights file's
validation, and the features the pipeline computes from an outcome."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qa.answer.answerability import Outcome, answer_features
from qa.answer.confidence import FEATURES, Calibration, load_calibration
from qa.answer.extraction import candidates
from qa.answer.grounding import Grounder
from qa.answer.prompts import Passage
from qa.records import SearchHit, StoredChunk

BOND = "The bond for a tenancy is at most four weeks of rent. It is held by the board."


def test_score_is_the_logistic_of_the_weighted_sum() -> None:
    calibration = Calibration({"best_coverage": 2.0, "grounded": 1.0}, -1.5, 0.5)
    features = {"best_coverage": 0.5, "grounded": 1.0, "chinese": 1.0}
    assert calibration.score(features) == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert calibration.score({}) == pytest.approx(1 / (1 + math.exp(1.5)))
    assert calibration.score({"best_coverage": 1e9}) == pytest.approx(1.0)


def test_weights_file_round_trips_and_rejects_unknown_features(tmp_path: Path) -> None:
    calibration = Calibration({"agrees": 1.25}, -0.5, 0.4)
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(calibration.to_dict()))
    assert load_calibration(path) == calibration
    with pytest.raises(ValueError, match="unknown features"):
        Calibration.from_dict({"weights": {"shoe_size": 1.0}, "bias": 0, "threshold": 0.5})
    assert load_calibration(tmp_path / "absent.json") is None


def test_installed_weights_name_only_known_features() -> None:
    calibration = load_calibration()
    if calibration is not None:
        assert set(calibration.weights) <= set(FEATURES)
        assert 0.0 <= calibration.threshold <= 1.0


def _outcome(question: str, draft_text: str, logprobs: tuple[float, ...] = ()) -> Outcome:
    chunk = StoredChunk(1, "bond", 0, 0, len(BOND), None, None, BOND, "Tenancy", {})
    hit = SearchHit(chunk, 1.0, dense_score=0.9)
    other = SearchHit(chunk, 0.5, dense_score=0.7)
    passages = [Passage(1, hit, BOND)]
    found = candidates(question, passages)
    draft = Grounder(0.55).run(draft_text, passages, semantic=False)
    final = draft if draft.found else None
    return Outcome([hit, other], [hit], passages, found, draft, False, final, False, logprobs)


def test_features_of_a_grounded_answer_that_agrees_with_the_candidate() -> None:
    features = answer_features(
        "How much is the bond for a tenancy?",
        _outcome("How much is the bond for a tenancy?", "The bond is at most four weeks of rent."),
    )
    # No log-probabilities were reported and strict mode is off: those features are
    # absent, not zero (the pipeline adds `verified` only where the check ran, and
    # the answerability gate, qa/answer/gate.py, `sentence_similarity`).
    absent = {"lp_mean", "lp_min", "lp_opening", "verified", "sentence_similarity"}
    assert set(features) == set(FEATURES) - absent
    assert features["dense_top"] == pytest.approx(0.9)
    assert features["dense_margin"] == pytest.approx(0.2)
    assert features["evidence_share"] == 0.5
    assert features["grounded"] == 1.0 and features["agrees"] == 1.0
    assert features["dropped_share"] == 0.0
    assert features["typed_question"] == 1.0 and features["type_found"] == 1.0


def test_features_of_an_ungrounded_draft() -> None:
    question = "Who signs the tenancy agreement?"
    features = answer_features(question, _outcome(question, "Mary Smith signs it in 1999."))
    assert features["grounded"] == 0.0 and features["agrees"] == 0.0
    assert features["dropped_share"] == 1.0
    assert features["type_found"] == 0.0


def test_logprob_features_read_the_whole_draft_and_its_opening() -> None:
    question = "How much is the bond for a tenancy?"
    logprobs = tuple([-2.0] * 16 + [0.0] * 16)
    features = answer_features(
        question, _outcome(question, "The bond is at most four weeks of rent.", logprobs)
    )
    assert set(features) == set(FEATURES) - {"verified", "sentence_similarity"}
    assert features["lp_mean"] == pytest.approx(-1.0)
    assert features["lp_min"] == -2.0
    assert features["lp_opening"] == pytest.approx(-2.0)


def test_a_missing_feature_counts_at_its_fitting_mean() -> None:
    calibration = Calibration({"lp_mean": 2.0, "grounded": 1.0}, 0.0, 0.5, {"lp_mean": -0.5})
    assert calibration.score({"grounded": 1.0}) == pytest.approx(0.5)  # 1 + 2 * -0.5
    assert calibration.score({"grounded": 1.0, "lp_mean": 0.0}) == pytest.approx(
        1 / (1 + math.exp(-1.0))
    )
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again == calibration
    with pytest.raises(ValueError, match="means"):
        Calibration.from_dict({"weights": {}, "bias": 0, "threshold": 0.5, "means": [1]})
