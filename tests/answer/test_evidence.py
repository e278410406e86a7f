"""When retrieval's passages are no evidence, the answer is a refusal before any generation."""

from __future__ import annotations

from qa.answer.evidence import is_evidence
from qa.records import SearchHit, StoredChunk
from qa.text import question_terms

CARD = "第三条 借阅证办理。年满十六周岁的读者凭本人有效身份证原件到总服务台办理借阅证。"
BOND = "A landlord must not require a bond of more than 4 weeks' rent."


def hit(text: str, dense: float | None, title: str = "") -> SearchHit:
    chunk = StoredChunk(1, "d", 0, 0, len(text), None, None, text, title, {})
    return SearchHit(chunk, 1.0, dense_score=dense)


def test_chinese_question_words_are_not_what_a_question_is_about() -> None:
    assert question_terms("如何申请出国签证？") == {"申请", "出国", "签证"}
    assert "多少" not in question_terms("办理借阅证需要交纳多少押金？")


def test_a_close_dense_score_without_any_question_term_is_no_evidence() -> None:
    assert not is_evidence("如何申请出国签证？", hit(CARD, 0.86), 0.85, dense_meaningful=True)
    assert is_evidence("如何办理借阅证？", hit(CARD, 0.86), 0.85, dense_meaningful=True)


def test_dense_score_counts_only_in_a_language_the_embedder_knows() -> None:
    question = "What is the maximum bond a landlord may ask for?"
    assert is_evidence(question, hit(BOND, 0.6), 0.3, dense_meaningful=True)
    assert not is_evidence("What is the pet policy for a landlord?", hit(BOND, 0.6), 0.3,
                           dense_meaningful=False)  # fmt: skip
    assert is_evidence("landlord bond maximum", hit(BOND, 0.0), 0.3, dense_meaningful=False)


def test_the_title_counts_as_passage_text() -> None:
    assert is_evidence("What does the Westmere act say?", hit(BOND, 0.1, "Westmere Act"), 0.3,
                       dense_meaningful=True)  # fmt: skip
    assert not is_evidence("What does the Westmere act say?", hit(BOND, 0.9), 0.3,
                           dense_meaningful=True)  # fmt: skip


def test_across_languages_the_dense_score_decides() -> None:
    assert is_evidence("How do I get a library card?", hit(CARD, 0.86), 0.85, dense_meaningful=True)
    assert not is_evidence("How do I get a visa?", hit(CARD, 0.80), 0.85, dense_meaningful=True)
