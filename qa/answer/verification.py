"""Strict mode: the generator asked, for one token, whether the quoted passage shows the
answer to be right.

A 0.5B model writes a fluent answer to an unanswerable question as readily as to an
answerable one, but reading a short passage, a question and a proposed answer and
weighing "yes" against "no" is a different task: one forward pass over about 200
tokens, no decoding. Its probability of "yes" becomes one more confidence feature
(`verified`); docs/EVALUATION.md measures whether it pays for its time.
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.answer.assembly import without_markers
from qa.answer.prompts import inert
from qa.models.protocols import ChatMessage, YesNoJudge
from qa.records import Answer
from qa.text import Language

_SYSTEM = "You check whether a passage answers a question."

_ASK: dict[Language, str] = {
    "en": "Does the passage show that the proposed answer correctly answers the question? "
    "Answer yes or no.",
    "zh": "段落是否表明所给答案正确回答了问题？请只回答 yes 或 no。",
}
_LABELS: dict[Language, tuple[str, str]] = {
    "en": ("Question", "Proposed answer"),
    "zh": ("问题", "所给答案"),
}


def verification_messages(
    question: str, answer: str, quotes: Sequence[str], language: Language
) -> list[ChatMessage]:
    """The answer's own quotes, not whole passages: they are what it rests on, and a
    short prompt keeps the check to a fraction of the generation's time."""
    passage = inert(" ".join(dict.fromkeys(q.strip() for q in quotes if q.strip())))
    asked, proposed = _LABELS[language]
    user = (
        f"<passage>\n{passage}\n</passage>\n\n{asked}: {inert(question.strip())}\n"
        f"{proposed}: {inert(without_markers(answer).strip())}\n\n{_ASK[language]}"
    )
    return [
        ChatMessage(role="system", content=_SYSTEM),
        ChatMessage(role="user", content=user),
    ]


def verify(judge: YesNoJudge, question: str, answer: Answer, language: Language) -> float:
    """P(yes) against P(no) for a found answer and its citations' quotes."""
    quotes = [c.quote for c in answer.citations]
    return judge.yes_probability(verification_messages(question, answer.answer, quotes, language))
