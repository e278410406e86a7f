"""Extractive candidates: the evidence sentence that answers, yes/no verdicts, and the
candidate as a grounded, cited answer."""

from __future__ import annotations

from qa.answer.assembly import assemble
from qa.answer.extraction import candidates, extractive_grounding, yes_or_no
from qa.answer.prompts import Passage
from qa.records import SearchHit, StoredChunk

LEAFLET = (
    "Take one tablet twice a day with food. Do not drive or operate machinery after "
    "taking it. Store below 25 degrees."
)
RULES = "学生应按时注册。补考申请须在成绩公布后7天内提交。逾期不予受理。"


def passage(text: str, n: int = 1, doc: str = "leaflet") -> Passage:
    chunk = StoredChunk(n, doc, 0, 0, len(text), None, None, text, doc, {})
    return Passage(n, SearchHit(chunk, 1.0), text)


def test_the_best_candidate_holds_the_questions_terms() -> None:
    found = candidates("Can I drive after taking it?", [passage(LEAFLET)])
    assert found[0].sentence == "Do not drive or operate machinery after taking it."
    assert found[0].coverage == 1.0
    assert not found[0].typed


def test_a_candidate_of_the_expected_type_wins_over_one_without() -> None:
    found = candidates("补考申请需要在多长时间内提交？", [passage(RULES, doc="rules")])
    assert found[0].sentence == "补考申请须在成绩公布后7天内提交。"
    assert found[0].typed


def test_candidates_rank_earlier_passages_first_on_ties() -> None:
    text = "The bond is four weeks of rent."
    found = candidates("What is the bond?", [passage(text, 1, "a"), passage(text, 2, "b")])
    assert found[0].passage.n == 1


def test_yes_or_no_follows_the_sentences_polarity() -> None:
    assert not yes_or_no("Can I drive after taking it?", "Do not drive after taking it.")
    assert yes_or_no("Can I take it with food?", "Take one tablet with food.")
    assert yes_or_no("Is it not allowed to smoke?", "Smoking is prohibited.")
    assert not yes_or_no("可以和酒一起服用吗？", "服药期间不得饮酒。")


def test_a_yes_no_candidate_becomes_a_cited_no() -> None:
    found = candidates("Can I drive after taking it?", [passage(LEAFLET)])
    grounding = extractive_grounding("Can I drive after taking it?", found[0], "yesno", "en")
    answer = assemble(grounding, "en", {})
    assert answer.found
    assert answer.answer == "No. Do not drive or operate machinery after taking it. [1]"
    citation = answer.citations[0]
    assert LEAFLET[citation.quote_start : citation.quote_end] == citation.quote


def test_a_chinese_candidate_answers_in_the_passages_words() -> None:
    question = "补考申请需要在多长时间内提交？"
    found = candidates(question, [passage(RULES, doc="rules")])
    answer = assemble(extractive_grounding(question, found[0], "duration", "zh"), "zh", {})
    assert answer.answer == "补考申请须在成绩公布后7天内提交。[1]"
