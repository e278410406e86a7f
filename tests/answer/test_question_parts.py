"""Two-part questions: the part the draft left out is answered from the evidence."""

from __future__ import annotations

from qa.answer.grounding import Grounder
from qa.answer.prompts import Passage
from qa.answer.question_parts import completed, parts
from qa.records import SearchHit, StoredChunk

RENT = (
    "Rent increases. A landlord may increase the rent no more than once in any 12-month "
    "period. A landlord must give the tenant at least 60 days' written notice of a rent "
    "increase. The notice must state the new amount of rent and the day from which it "
    "is payable."
)
REPAIRS = (
    "A tenant may end a tenancy by giving 14 days' notice if the landlord has failed to "
    "carry out urgent repairs as required by Section 30."
)


def passage(n: int, text: str) -> Passage:
    chunk = StoredChunk(n, f"doc{n}", 0, 0, len(text), None, None, text, "Tenancies Act", {})
    return Passage(n, SearchHit(chunk, 1.0 / n, dense_score=0.7), text)


QUESTION = "How often can a landlord increase the rent, and how much notice is required?"


def test_a_question_is_split_at_a_second_question_word_only() -> None:
    assert parts(QUESTION) == [
        "How often can a landlord increase the rent",
        "how much notice is required?",
    ]
    assert parts("What is the dose for adults and children?") == [
        "What is the dose for adults and children?"
    ]
    assert parts("借期多长，可以续借几次？") == ["借期多长", "可以续借几次？"]
    assert parts("图书馆几点开门？") == ["图书馆几点开门？"]
    topic = "客运方面，固始站现有多少趟列车停车办客？"  # a topic, then one question
    assert parts(topic) == [topic]


def test_the_part_the_draft_left_out_is_added_from_the_evidence() -> None:
    """From the sentence about what the whole question asks, not the one that shares
    the part's own words best ("notice ... required" about repairs)."""
    passages = [passage(1, RENT), passage(2, REPAIRS)]
    draft = Grounder(threshold=0.55).run(
        "A landlord can increase the rent no more than once in any 12-month period. "
        "The notice must state the new amount of rent and the day from which it is payable.",
        passages,
        question=QUESTION,
    )
    assert draft.found and len(draft.sentences) == 2
    answer = completed(QUESTION, draft, passages, 0.4)
    assert answer.sentences[:2] == draft.sentences
    added = answer.sentences[2]
    assert added.text.startswith("A landlord must give the tenant at least 60 days")
    assert added.support is not None and added.support.quote.startswith("A landlord must give")


def test_an_answer_that_covers_every_part_is_left_alone() -> None:
    passages = [passage(1, RENT)]
    whole = Grounder(threshold=0.55).run(
        "A landlord can increase the rent once in any 12-month period, with at least "
        "60 days' written notice of a rent increase.",
        passages,
        question=QUESTION,
    )
    assert whole.found
    assert completed(QUESTION, whole, passages, 0.4) == whole
    single = "How often can a landlord increase the rent?"
    assert completed(single, whole, passages, 0.4) == whole
