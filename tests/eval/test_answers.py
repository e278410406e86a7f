"""Answer-evaluation scoring on hand-made answers: what a report's figures mean."""

from __future__ import annotations

from qa.eval.answers import (
    AnswerRow,
    citation_correct,
    cited_records,
    sample,
    score_answer,
    summarize_answers,
)
from qa.eval.datasets import Query
from qa.records import Answer, Citation


def citation(document: str, text: str) -> Citation:
    return Citation(1, document, f"{document}#0", None, text, text, 1.0, 0, len(text), "", None)


def row(
    answerable: bool, found: bool, f1: float, cited: int, right: int, total: float
) -> AnswerRow:
    return AnswerRow(
        "q", "?", answerable, ("x",) if answerable else (), "a", found, f1, 0.0, cited, right,
        total, total / 2 if found else None,
    )  # fmt: skip


def test_answer_markers_are_not_scored_and_refusals_score_zero() -> None:
    query = Query("1", "How long?", {"d1": 1}, ("14 days",))
    answered = Answer("The incubation period is 14 days. [1]", True)
    f1, exact = score_answer(query, answered, chinese=False)
    assert round(f1, 4) == round(2 * (2 / 5) * 1 / (2 / 5 + 1), 4)  # 2 of 5 tokens match
    assert exact == 0.0
    assert score_answer(query, Answer("14 days [1]", True), chinese=False) == (1.0, 1.0)
    assert score_answer(query, Answer("14 days", False), chinese=False) == (0.0, 0.0)


def test_chinese_answers_score_by_characters() -> None:
    query = Query("1", "首都是哪里？", {"d1": 1}, ("北京",))
    assert score_answer(query, Answer("北京[1]", True), chinese=True) == (1.0, 1.0)
    f1, _ = score_answer(query, Answer("是北京市", True), chinese=True)
    assert round(f1, 4) == round(2 * 0.5 * 1 / 1.5, 4)


def test_a_citation_counts_when_from_the_gold_document_or_holding_the_answer() -> None:
    query = Query("1", "How long?", {"d1": 1}, ("14 days",))
    assert citation_correct(citation("d1", "unrelated"), query, chinese=False)
    assert citation_correct(citation("d2", "It lasts 14 Days."), query, chinese=False)
    assert not citation_correct(citation("d2", "It lasts 10 days."), query, chinese=False)
    zh = Query("2", "?", {"d1": 1}, ("北京",))
    assert not citation_correct(citation("d3", "首都是上海。"), zh, chinese=True)
    assert citation_correct(citation("d3", "首都是北 京。"), zh, chinese=True)


def test_each_citation_is_recorded_with_its_verdict() -> None:
    query = Query("1", "How long?", {"d1": 1}, ("14 days",))
    wrong = Citation(2, "d2", "d2#3", None, "It lasts 10 days.", "", 1.0, 0, 0, "", None)
    records = cited_records([citation("d1", "unrelated"), wrong], query, chinese=False)
    assert records == [
        {"n": 1, "document": "d1", "chunk_id": "d1#0", "correct": True},
        {"n": 2, "document": "d2", "chunk_id": "d2#3", "correct": False},
    ]


def test_sample_is_seeded_and_balanced_when_the_set_has_unanswerables() -> None:
    answerable = [Query(f"a{i}", "?", {"d": 1}, ("x",)) for i in range(10)]
    unanswerable = [Query(f"u{i}", "?", {}) for i in range(10)]
    picked = sample(answerable + unanswerable, 6, seed=1)
    assert sum(bool(q.answers) for q in picked) == 3 and len(picked) == 6
    assert [q.id for q in picked] == [q.id for q in sample(answerable + unanswerable, 6, seed=1)]
    assert len(sample(answerable, 4, seed=1)) == 4


def test_summary_figures_by_hand() -> None:
    rows = [
        row(True, True, 1.0, 2, 2, 4.0),
        row(True, True, 0.5, 1, 0, 6.0),
        row(True, False, 0.0, 0, 0, 1.0),
        row(False, False, 0.0, 0, 0, 1.0),
        row(False, True, 0.0, 0, 0, 8.0),
    ]
    s = summarize_answers("set", "fast", "minilm", rows, chinese=False)
    assert (s.answerable, s.unanswerable) == (3, 2)
    assert s.f1 == 0.5
    assert s.answered_rate == round(2 / 3, 4)
    assert s.refusal_rate == 0.5
    assert s.citation_precision == round(2 / 3, 4)
    assert s.median_s == 4.0
    assert s.median_first_token_s == 3.0
