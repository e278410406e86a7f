"""The contextualiser (#16): follow-ups made standalone, English and Chinese; standalone
questions left alone; questions with nothing to search marked for a question back;
the generator rewrite's fallbacks. No model: the rewrite's generator is scripted."""

from __future__ import annotations

from collections.abc import Generator, Sequence

import pytest

from qa.models.protocols import ChatMessage
from qa.records import Turn
from qa.retrieval.contextualise import Contextualiser
from qa.settings import Settings


def conversation(*questions: str) -> list[Turn]:
    """User turns with an assistant answer after each."""
    turns: list[Turn] = []
    for question in questions:
        turns += [Turn("user", question), Turn("assistant", "An answer about something else.")]
    return turns


def rule(question: str, *earlier: str) -> str:
    return Contextualiser(Settings(), method="rule").run(question, conversation(*earlier)).text


@pytest.mark.parametrize(
    ("earlier", "question", "standalone"),
    [
        (
            ["What is the notice period for an inspection?"],
            "And for a repair?",
            "What is the notice period for a repair?",
        ),
        (
            ["What is the notice period for an inspection?", "And for a repair?"],
            "Does that apply to student housing too?",
            "Does the notice period for a repair apply to student housing too?",
        ),
        (
            ["What is the Acme X200 warranty?"],
            "How much does it cost?",
            "How much does the Acme X200 warranty cost?",
        ),
        (
            ["What's the difference between Market Cap and NAV?"],
            "Which is more important?",
            "Which is more important? (Market, Cap, NAV)",
        ),
        (
            ["How do I apply for a student visa?"],
            "Are those the only steps?",
            "Are those the only steps? (apply, student, visa)",
        ),
        (["Is the bond refundable?"], "Why?", "Why? (bond, refundable)"),
    ],
)
def test_english_follow_ups_are_resolved(
    earlier: list[str], question: str, standalone: str
) -> None:
    assert rule(question, *earlier) == standalone


@pytest.mark.parametrize(
    ("earlier", "question", "standalone"),
    [
        (["图书的借期是多少天？"], "它可以续借吗？", "图书借期可以续借吗？"),
        (["图书的借期是多少天？"], "那续借呢？", "那续借呢？（图书，借期）"),
        (["逾期归还图书的罚款是多少？"], "为什么？", "为什么？（逾期，归还，图书，罚款）"),
    ],
)
def test_chinese_follow_ups_are_resolved(
    earlier: list[str], question: str, standalone: str
) -> None:
    assert rule(question, *earlier) == standalone


def test_a_short_question_without_a_name_still_refers_back() -> None:
    assert rule("What is the penalty?", "What is the maximum bond in Westmere?") != (
        "What is the penalty?"
    )


@pytest.mark.parametrize(
    ("earlier", "question"),
    [
        (["What is the late fee?"], "What is the maximum bond a landlord may ask for?"),
        (["Do I need a real estate agent?"], "How to become a real estate agent and does it pay?"),
        (["图书的借期是多少天？"], "借书需要带什么证件？"),
        # Short, but a name of its own: a change of topic, not a follow-up.
        (["What is the maximum bond in Westmere?"], "What is the capital of Australia?"),
    ],
)
def test_a_question_that_names_its_subject_is_left_alone(earlier: list[str], question: str) -> None:
    assert rule(question, *earlier) == question


@pytest.mark.parametrize(
    ("question", "earlier"),
    [("And that?", []), ("Why?", []), ("为什么？", []), ("What about it?", ["Why?"])],
)
def test_nothing_to_search_even_with_the_history_is_a_clarification(
    question: str, earlier: list[str]
) -> None:
    for method in ("rule", "rewrite", "concat"):
        standalone = Contextualiser(Settings(), method=method).run(question, conversation(*earlier))
        assert standalone.clarification, method


def test_a_vague_follow_up_with_a_subject_before_it_is_no_clarification() -> None:
    standalone = Contextualiser(Settings(), method="rule").run(
        "Why?", conversation("Is the bond refundable?")
    )
    assert not standalone.clarification and standalone.method == "rule"


def test_concat_joins_the_recent_user_turns_within_the_limit() -> None:
    settings = Settings(contextualiser_turns=2, max_question_chars=60)
    standalone = Contextualiser(settings, method="concat").run(
        "And for a repair?", conversation("one two", "What is the notice period?")
    )
    assert standalone.text == "one two What is the notice period? And for a repair?"[-60:]
    assert standalone.method == "concat" and standalone.text.endswith("And for a repair?")


def test_none_searches_the_question_as_asked() -> None:
    standalone = Contextualiser(Settings(), method="none").run(
        " And for a repair? ", conversation("What is the notice period for an inspection?")
    )
    assert (standalone.text, standalone.method) == ("And for a repair?", "none")


class Scripted:
    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.messages: list[Sequence[ChatMessage]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        logprobs: list[float] | None = None,
    ) -> Generator[str, None, None]:
        self.messages.append(messages)
        yield self.reply


def rewrite(reply: str, question: str = "And for a repair?") -> tuple[str, str, Scripted]:
    generator = Scripted(reply)
    settings = Settings(rewrite_tokens=12)
    standalone = Contextualiser(settings, lambda: generator, method="rewrite").run(
        question, conversation("What is the notice period for an inspection?")
    )
    return standalone.text, standalone.method, generator


def test_the_rewrite_is_the_generators_first_line() -> None:
    text, method, generator = rewrite('Standalone question: "How much notice for a repair?"\nok')
    assert (text, method) == ("How much notice for a repair?", "rewrite")
    prompt = generator.messages[0][-1]["content"]
    assert "User: What is the notice period for an inspection?" in prompt
    assert prompt.endswith("Last question: And for a repair?")


@pytest.mark.parametrize("reply", ["", "  \n", " ".join(["word"] * 12)])
def test_an_empty_or_cut_off_rewrite_falls_back_to_the_rule(reply: str) -> None:
    text, method, _ = rewrite(reply)
    assert (text, method) == ("What is the notice period for a repair?", "rule")


def test_the_rewrite_is_not_asked_for_a_clarification() -> None:
    generator = Scripted("anything")
    standalone = Contextualiser(Settings(), lambda: generator, method="rewrite").run("Why?", [])
    assert standalone.clarification and generator.messages == []
