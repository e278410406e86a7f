"""Which kind of answer a question expects, and where a sentence holds one."""

from __future__ import annotations

import pytest

from qa.answer.answer_types import expected_type, new_type_spans, type_spans


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("who sang the song hello", "person"),
        ("when did the second world war end", "date"),
        ("In what year was the bridge opened?", "date"),
        ("How long must a tenant wait for the bond?", "duration"),
        ("how many students attend the school", "number"),
        ("where is the library", "place"),
        ("Can I drive after taking it?", "yesno"),
        ("Is the bond held by the board?", "yesno"),
        ("What is a tenancy?", "other"),
        ("申请补考需要多长时间？", "duration"),
        ("学校有多少名学生？", "number"),
        ("每学期最多可以选几门课？", "number"),
        ("图书馆在哪里？", "place"),
        ("这部小说的作者是谁？", "person"),
        ("这座桥建于哪一年？", "date"),
        ("这种药可以和酒一起服用吗？", "yesno"),
        ("是否需要提交成绩单？", "yesno"),
    ],
)
def test_expected_type(question: str, kind: str) -> None:
    assert expected_type(question) == kind


def spans(text: str, kind: str) -> list[str]:
    return [text[s:e] for s, e in type_spans(text, kind)]  # type: ignore[arg-type]


def test_spans_of_each_kind_in_english() -> None:
    text = "The war ended in 1945 after six years. Winston Churchill spoke in London."
    assert "six years" in spans(text, "duration")
    assert "1945" in spans(text, "date")
    assert "Winston Churchill" in spans(text, "person")
    assert "London" in spans(text, "place")
    assert "1945" in spans(text, "number")


def test_spans_of_each_kind_in_chinese() -> None:
    text = "该校建于1898年，共有3000名学生，位于北京市。申请须在30天内提交，学制三年。"
    assert spans(text, "duration") == ["30天", "三年"]
    assert "1898年" in spans(text, "date")
    assert "3000名" in spans(text, "number")
    assert any(s.endswith("北京市") for s in spans(text, "place"))


def test_yes_no_and_other_questions_have_no_spans() -> None:
    assert spans("Take 2 tablets within 4 hours.", "yesno") == []
    assert spans("Take 2 tablets within 4 hours.", "other") == []


def test_a_span_the_question_already_states_is_not_an_answer() -> None:
    sentence = "In 2019 the rule changed, and since 2021 it applies to everyone."
    question = "What changed in 2019?"
    found = [sentence[s:e] for s, e in new_type_spans(sentence, "date", question)]
    assert found == ["2021"]


def test_a_when_question_is_answered_by_days_and_hours_too() -> None:
    """ "When is the clinic open on Saturday?" is answered by the hours on the Saturday
    line; the day the question names is no answer, and a phone number holds no year."""
    question = "When is the clinic open on Saturday?"
    hours = "Saturday: 9:00 am to 12:30 pm"
    found = [hours[s:e] for s, e in new_type_spans(hours, "date", question)]
    assert found == ["9:00 am", "12:30 pm"]
    assert spans("Monday to Friday, 8am to 17:30, 10 p.m. at noon", "date") == [
        "Monday",
        "Friday",
        "8am",
        "17:30",
        "10 p.m.",
        "noon",
    ]
    assert spans("Book by phone on (08) 5550 1842 today.", "date") == []
    assert spans("It opened in 1842.", "date") == ["1842"]
    assert spans("It grew from 1990-2000.", "date") == ["1990", "2000"]
