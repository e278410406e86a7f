"""The compressed prompt: the best sentences of each passage, as verbatim slices of the
chunk with their offsets, within the token budget."""

from __future__ import annotations

from qa.answer.evidence_selection import compress
from qa.records import SearchHit, StoredChunk

FILLER = " ".join(
    f"Clause {n} concerns the colour of the front door and the hallway." for n in range(12)
)
BOND = (
    f"{FILLER} The bond for a tenancy is at most four weeks of rent. "
    "It is held by the tenancy board. "
    f"{FILLER}"
)
PETS = "Pets are allowed with consent. The landlord may refuse a dog. Gardens must be kept tidy."
OTHER = "Parking permits cost 40 dollars a year. Bins are collected on Mondays."


def hit(text: str, doc: str, score: float = 1.0) -> SearchHit:
    return SearchHit(StoredChunk(1, doc, 0, 0, len(text), None, None, text, doc.title(), {}), score)


def words(text: str) -> int:
    return len(text.split())


def test_windows_are_verbatim_slices_at_their_offsets() -> None:
    hits = [hit(BOND, "bond"), hit(PETS, "pets")]
    passages = compress("How much is the bond for a tenancy?", hits, 60, words)
    assert passages
    for p in passages:
        assert p.hit.chunk.text[p.start : p.start + len(p.text)] == p.text
    first = passages[0]
    assert "at most four weeks of rent" in first.text
    assert first.start > 0  # the filler before the bond sentence was left out
    assert len(first.text) < len(BOND) / 2


def test_the_budget_holds_and_neighbours_fill_it() -> None:
    hits = [hit(BOND, "bond")]
    passages = compress("How much is the bond?", hits, 40, words)
    text = passages[0].text
    assert words(text) + 16 <= 40 or text.count(".") == 1
    assert "It is held by the tenancy board." in text


def test_a_passage_that_names_nothing_asked_is_left_out() -> None:
    hits = [hit(BOND, "bond"), hit(OTHER, "parking"), hit(PETS, "pets")]
    passages = compress("Can the landlord refuse a pet?", hits, 200, words)
    documents = [p.hit.chunk.document_id for p in passages]
    assert "parking" not in documents and "pets" in documents
    assert [p.n for p in passages] == list(range(1, len(passages) + 1))


def test_the_sentence_with_an_answer_of_the_asked_kind_is_preferred() -> None:
    text = "Appeals go to the tenancy board. An appeal must be lodged within 14 days."
    passages = compress("How long is the appeal period?", [hit(text, "appeals")], 10, words)
    assert "14 days" in passages[0].text


def test_chinese_sentences_keep_their_offsets() -> None:
    text = "学生应按时注册。补考申请须在成绩公布后7天内提交。逾期不予受理。图书馆周日开放。"
    passages = compress("补考申请需要在多长时间内提交？", [hit(text, "rules")], 12, len)
    p = passages[0]
    assert "7天内提交" in p.text
    assert text[p.start : p.start + len(p.text)] == p.text
