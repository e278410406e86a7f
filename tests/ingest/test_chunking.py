"""Chunker: exact slices within budget, on page, paragraph and sentence boundaries."""

from __future__ import annotations

import itertools
import re

import pytest

from qa.ingest.chunking import Chunker, ChunkerConfig
from qa.ingest.structure import heading_sections
from qa.records import Chunk, Document, Span
from qa.text import sentence_spans

_TOKEN = re.compile(r"[\u3400-\u9fff]|[^\s\u3400-\u9fff]+")


def count_tokens(text: str) -> int:
    """Whitespace-separated words, plus one token per CJK character."""
    return len(_TOKEN.findall(text))


def _chunker(max_tokens: int, overlap_tokens: int = 0) -> Chunker:
    return Chunker(
        ChunkerConfig(max_tokens=max_tokens, overlap_tokens=overlap_tokens), count_tokens
    )


def _texts(chunks: list[Chunk]) -> list[str]:
    return [c.text for c in chunks]


def _check_invariants(doc: Document, chunks: list[Chunk], max_tokens: int) -> None:
    for n, chunk in enumerate(chunks):
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.text == chunk.text.strip()
        assert 0 < count_tokens(chunk.text) <= max_tokens
        assert chunk.ordinal == n
        assert chunk.chunk_id == f"{doc.id}#{n}"
        assert chunk.document_id == doc.id


def test_counter_used_by_these_tests() -> None:
    assert count_tokens("Two words") == 2
    assert count_tokens("退款 policy。") == 3


@pytest.mark.parametrize("overlap", [10, 11, 50])
def test_overlap_not_smaller_than_size_is_refused(overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        _chunker(10, overlap)


def test_config_as_dict() -> None:
    assert ChunkerConfig(max_tokens=64, overlap_tokens=8).as_dict() == {
        "max_tokens": 64,
        "overlap_tokens": 8,
    }


def test_short_document_is_one_chunk_without_surrounding_whitespace() -> None:
    text = "\n\n  Refunds take 14 days. Call us.  \n"
    chunks = _chunker(50).run(Document(id="faq", text=text))
    assert len(chunks) == 1
    chunk = chunks[0]
    assert (chunk.start, chunk.end) == (4, 34)
    assert chunk.text == "Refunds take 14 days. Call us."
    assert chunk.chunk_id == "faq#0"
    assert chunk.page is None
    assert chunk.section is None


def test_english_split_falls_on_sentence_ends() -> None:
    text = "One two three four. Five six seven eight. Nine ten eleven twelve."
    doc = Document(id="en", text=text)
    chunks = _chunker(10).run(doc)
    _check_invariants(doc, chunks, 10)
    assert _texts(chunks) == [
        "One two three four. Five six seven eight.",
        "Nine ten eleven twelve.",
    ]
    assert [(c.start, c.end) for c in chunks] == [(0, 41), (42, 65)]


@pytest.mark.parametrize("end", ["!", "?", "."])
def test_english_sentence_end_before_closing_quote(end: str) -> None:
    first = f'He said "Stop{end}"'
    text = first + " Then he left."
    chunks = _chunker(4).run(Document(id="q", text=text))
    assert _texts(chunks) == [first, "Then he left."]


def test_chinese_split_at_cjk_sentence_punctuation() -> None:
    text = "第一句话。第二句话！第三句话？第四句话；第五句话。"
    doc = Document(id="zh", text=text)
    chunks = _chunker(10).run(doc)
    _check_invariants(doc, chunks, 10)
    assert _texts(chunks) == ["第一句话。第二句话！", "第三句话？第四句话；", "第五句话。"]
    assert [(c.start, c.end) for c in chunks] == [(0, 10), (10, 20), (20, 25)]


def test_cjk_sentence_end_takes_closing_quote() -> None:
    text = "他说：“好。”然后走了。"
    assert [text[s:e] for s, e in sentence_spans(text, 0, len(text))] == [
        "他说：“好。”",
        "然后走了。",
    ]


def test_sentence_spans_respect_lines_and_range() -> None:
    text = "xx Alpha beta. Gamma!\n  Delta\n\nEpsilon. yy"
    start, end = 3, len(text) - 3
    spans = sentence_spans(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Alpha beta.", "Gamma!", "Delta", "Epsilon."]
    assert spans[0] == (3, 14)


def test_overlong_english_sentence_is_cut_by_words() -> None:
    text = " ".join(f"w{n}" for n in range(1, 26))
    doc = Document(id="long", text=text)
    chunks = _chunker(10).run(doc)
    _check_invariants(doc, chunks, 10)
    assert _texts(chunks) == [
        " ".join(f"w{n}" for n in range(1, 11)),
        " ".join(f"w{n}" for n in range(11, 21)),
        " ".join(f"w{n}" for n in range(21, 26)),
    ]


def test_overlong_chinese_sentence_is_cut_by_characters() -> None:
    text = "甲乙丙丁戊己庚辛壬癸" * 2 + "子丑寅"
    doc = Document(id="long-zh", text=text)
    chunks = _chunker(10).run(doc)
    _check_invariants(doc, chunks, 10)
    assert _texts(chunks) == ["甲乙丙丁戊己庚辛壬癸", "甲乙丙丁戊己庚辛壬癸", "子丑寅"]
    assert [(c.start, c.end) for c in chunks] == [(0, 10), (10, 20), (20, 23)]


_ABCDE = "A1 a2 a3. B1 b2 b3. C1 c2 c3. D1 d2 d3. E1 e2 e3."


def test_no_overlap_when_overlap_is_zero() -> None:
    chunks = _chunker(9).run(Document(id="o", text=_ABCDE))
    assert _texts(chunks) == ["A1 a2 a3. B1 b2 b3. C1 c2 c3.", "D1 d2 d3. E1 e2 e3."]


def test_overlap_carries_one_trailing_sentence() -> None:
    doc = Document(id="o", text=_ABCDE)
    chunks = _chunker(9, 3).run(doc)
    _check_invariants(doc, chunks, 9)
    assert _texts(chunks) == ["A1 a2 a3. B1 b2 b3. C1 c2 c3.", "C1 c2 c3. D1 d2 d3. E1 e2 e3."]


def test_overlap_carries_as_many_sentences_as_fit() -> None:
    doc = Document(id="o", text=_ABCDE)
    chunks = _chunker(9, 7).run(doc)
    _check_invariants(doc, chunks, 9)
    assert _texts(chunks) == [
        "A1 a2 a3. B1 b2 b3. C1 c2 c3.",
        "B1 b2 b3. C1 c2 c3. D1 d2 d3.",
        "C1 c2 c3. D1 d2 d3. E1 e2 e3.",
    ]
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))


def test_overlap_never_carries_a_sentence_larger_than_the_overlap() -> None:
    doc = Document(id="o", text="A1 a2 a3 a4. B1 b2 b3 b4. C1 c2.")
    chunks = _chunker(8, 3).run(doc)
    assert _texts(chunks) == ["A1 a2 a3 a4. B1 b2 b3 b4.", "C1 c2."]


def test_overlap_leaves_room_for_the_next_new_sentence() -> None:
    text = "A1 a2. B1 b2. C1 c2. D1 d2 d3 d4 d5 d6 d7 d8."
    doc = Document(id="o", text=text)
    chunks = _chunker(10, 8).run(doc)
    _check_invariants(doc, chunks, 10)
    # Only two tokens of overlap fit beside the 8-token sentence; it must still be reached.
    assert _texts(chunks) == ["A1 a2. B1 b2. C1 c2.", "C1 c2. D1 d2 d3 d4 d5 d6 d7 d8."]


def test_overlap_with_budget_sized_sentences_still_progresses() -> None:
    text = "A1 a2 a3 a4. B1 b2 b3 b4. C1 c2 c3 c4."
    doc = Document(id="o", text=text)
    chunks = _chunker(4, 3).run(doc)
    assert _texts(chunks) == ["A1 a2 a3 a4.", "B1 b2 b3 b4.", "C1 c2 c3 c4."]


def test_chunk_closes_at_paragraph_break_rather_than_split_a_paragraph() -> None:
    text = "A1 a2 a3 a4 a5 a6.\n\nB1 b2 b3. B4 b5 b6."
    doc = Document(id="p", text=text)
    chunks = _chunker(10).run(doc)
    _check_invariants(doc, chunks, 10)
    assert _texts(chunks) == ["A1 a2 a3 a4 a5 a6.", "B1 b2 b3. B4 b5 b6."]


def test_paragraphs_share_a_chunk_when_they_fit() -> None:
    text = "One two.\n\nThree four.\n\nFive six."
    chunks = _chunker(10).run(Document(id="p", text=text))
    assert _texts(chunks) == [text]


def test_chunks_never_cross_pages_and_carry_page_numbers() -> None:
    page_1 = "Page one opens. Page one closes here."
    page_2 = "Only page two names Rotterdam."
    text = page_1 + "\n\n" + page_2
    pages = [Span(0, len(page_1), "1"), Span(len(page_1) + 2, len(text), "2")]
    doc = Document(id="pdf", text=text, pages=pages)
    chunks = _chunker(50).run(doc)
    _check_invariants(doc, chunks, 50)
    assert [(c.text, c.page) for c in chunks] == [(page_1, 1), (page_2, 2)]
    assert [(c.start, c.end) for c in chunks] == [(p.start, p.end) for p in pages]


def test_split_pages_keep_their_page_number_and_overlap_stays_on_page() -> None:
    page_3 = "A1 a2 a3. B1 b2 b3. C1 c2 c3."
    page_4 = "D1 d2 d3. E1 e2 e3."
    text = page_3 + "\n\n" + page_4
    pages = [Span(0, len(page_3), "3"), Span(len(page_3) + 2, len(text), "4")]
    doc = Document(id="pdf", text=text, pages=pages)
    chunks = _chunker(6, 3).run(doc)
    _check_invariants(doc, chunks, 6)
    assert [(c.text, c.page) for c in chunks] == [
        ("A1 a2 a3. B1 b2 b3.", 3),
        ("B1 b2 b3. C1 c2 c3.", 3),
        ("D1 d2 d3. E1 e2 e3.", 4),
    ]
    for chunk in chunks:
        page = next(p for p in pages if p.label == str(chunk.page))
        assert page.start <= chunk.start < chunk.end <= page.end


def test_sections_label_chunks_by_where_they_start() -> None:
    text = (
        "Preamble words here.\n\n"
        "# Act\n\nAct text.\n\n"
        "## Part 2\n\n"
        "### Section 12\n\nFee is 30.\n\n"
        "# Schedule\n\nLast."
    )
    starts = [
        (text.index(h), level, name)
        for h, level, name in (
            ("# Act", 1, "Act"),
            ("## Part 2", 2, "Part 2"),
            ("### Section 12", 3, "Section 12"),
            ("# Schedule", 1, "Schedule"),
        )
    ]
    doc = Document(id="md", text=text, sections=heading_sections(starts, len(text)))
    chunks = _chunker(4).run(doc)
    _check_invariants(doc, chunks, 4)
    assert [(c.text, c.section) for c in chunks] == [
        ("Preamble words here.", None),
        ("# Act\n\nAct text.", "Act"),
        ("## Part 2", "Act > Part 2"),
        ("### Section 12", "Act > Part 2 > Section 12"),
        ("Fee is 30.", "Act > Part 2 > Section 12"),
        ("# Schedule\n\nLast.", "Schedule"),
    ]


def test_whitespace_only_document_gives_no_chunks() -> None:
    assert _chunker(10).run(Document(id="blank", text="  \n\n\t \n")) == []
    assert _chunker(10).run(Document(id="empty", text="")) == []


def test_whitespace_only_page_gives_no_chunk_and_ordinals_stay_dense() -> None:
    text = "First page.\n\n   \n\n\nThird page."
    third = text.index("Third")
    pages = [Span(0, 11, "1"), Span(13, third - 2, "2"), Span(third, len(text), "3")]
    doc = Document(id="scan", text=text, pages=pages)
    chunks = _chunker(10).run(doc)
    assert [(c.chunk_id, c.text, c.page) for c in chunks] == [
        ("scan#0", "First page.", 1),
        ("scan#1", "Third page.", 3),
    ]


def test_mixed_document_invariants() -> None:
    paragraphs = [
        " ".join(f"Sentence {n} of paragraph {p} has words." for n in range(1, 6))
        for p in range(1, 5)
    ]
    paragraphs.append(" ".join(f"run{n}" for n in range(70)))
    paragraphs.append("退款需要十四天。请保留收据！如有疑问请致电客服；谢谢。" * 3)
    text = "\n\n".join(paragraphs)
    doc = Document(id="mix", text=text)
    for max_tokens, overlap in ((12, 0), (12, 5), (30, 11), (7, 6)):
        chunks = _chunker(max_tokens, overlap).run(doc)
        _check_invariants(doc, chunks, max_tokens)
        starts = [c.start for c in chunks]
        assert starts == sorted(set(starts))  # every chunk moves forward
        covered = set().union(*(range(c.start, c.end) for c in chunks))
        missing = [i for i, ch in enumerate(text) if not ch.isspace() and i not in covered]
        assert missing == []
        if overlap == 0:
            assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))


# --- structure: sections are chunk boundaries ---------------------------------------------

_ACT = (
    "Part 1 Preliminary\n"
    "Section 1. Short title\n"
    "This Act is the Bond Act.\n"
    "Section 2. Application\n"
    "(1) It applies to leases.\n"
    "(2) It does not apply to hotels.\n"
)


def _act_sections(text: str) -> list[Span]:
    def at(line: str) -> int:
        return text.index(line)

    marks = [
        (at("Part 1"), 1, "Part 1 Preliminary"),
        (at("Section 1."), 2, "Section 1. Short title"),
        (at("Section 2."), 2, "Section 2. Application"),
        (at("(1)"), 3, "(1)"),
        (at("(2)"), 3, "(2)"),
    ]
    return heading_sections(marks, len(text))


def test_chunk_does_not_straddle_two_sections_that_each_fit() -> None:
    doc = Document(id="act", text=_ACT, sections=_act_sections(_ACT))
    chunks = _chunker(100).run(doc)
    _check_invariants(doc, chunks, 100)
    # Everything would fit in one chunk; each section gets its own instead. The bare
    # "Part 1" heading stays with its first section, and the clauses stay together.
    assert [(c.text, c.section) for c in chunks] == [
        (
            "Part 1 Preliminary\nSection 1. Short title\nThis Act is the Bond Act.",
            "Part 1 Preliminary > Section 1. Short title",
        ),
        (
            "Section 2. Application\n(1) It applies to leases.\n(2) It does not apply to hotels.",
            "Part 1 Preliminary > Section 2. Application",
        ),
    ]


def test_long_section_is_cut_at_a_clause_and_chunks_name_their_clause() -> None:
    doc = Document(id="act", text=_ACT, sections=_act_sections(_ACT))
    chunks = _chunker(10).run(doc)
    _check_invariants(doc, chunks, 10)
    assert [(c.text, c.section) for c in chunks] == [
        (
            "Part 1 Preliminary\nSection 1. Short title",
            "Part 1 Preliminary > Section 1. Short title",
        ),
        ("This Act is the Bond Act.", "Part 1 Preliminary > Section 1. Short title"),
        (
            "Section 2. Application\n(1) It applies to leases.",
            "Part 1 Preliminary > Section 2. Application > (1)",
        ),
        ("(2) It does not apply to hotels.", "Part 1 Preliminary > Section 2. Application > (2)"),
    ]


def test_clause_start_is_preferred_over_filling_the_budget() -> None:
    text = "Section 7. Fees\n(1) Aa bb cc dd ee.\n(2) Ff gg. Hh ii jj kk ll mm."
    marks = [
        (0, 1, "Section 7. Fees"),
        (text.index("(1)"), 2, "(1)"),
        (text.index("(2)"), 2, "(2)"),
    ]
    doc = Document(id="fees", text=text, sections=heading_sections(marks, len(text)))
    chunks = _chunker(12).run(doc)
    _check_invariants(doc, chunks, 12)
    # "(2) Ff gg." would still fit after clause (1), but the chunk closes where (2) starts.
    assert _texts(chunks) == [
        "Section 7. Fees\n(1) Aa bb cc dd ee.",
        "(2) Ff gg. Hh ii jj kk ll mm.",
    ]


def test_overlap_is_not_carried_into_the_next_section() -> None:
    text = "S1 heading\nA1 a2 a3. B1 b2 b3. C1 c2 c3.\nS2 heading\nD1 d2 d3."
    s2 = text.index("S2")
    doc = Document(
        id="o", text=text, sections=[Span(0, s2, "Section 1"), Span(s2, len(text), "Section 2")]
    )
    chunks = _chunker(8, 3).run(doc)
    _check_invariants(doc, chunks, 8)
    assert [(c.text, c.section) for c in chunks] == [
        ("S1 heading\nA1 a2 a3. B1 b2 b3.", "Section 1"),
        ("B1 b2 b3. C1 c2 c3.", "Section 1"),
        ("S2 heading\nD1 d2 d3.", "Section 2"),
    ]


def test_heading_with_text_of_its_own_is_a_chunk_boundary_for_its_subsections() -> None:
    text = "Part 2 Bonds\nThis Part is about bonds.\nSection 9. Receipts\nGive a receipt."
    s9 = text.index("Section 9")
    sections = heading_sections([(0, 1, "Part 2 Bonds"), (s9, 2, "Section 9. Receipts")], len(text))
    chunks = _chunker(50).run(Document(id="p", text=text, sections=sections))
    assert [(c.text, c.section) for c in chunks] == [
        ("Part 2 Bonds\nThis Part is about bonds.", "Part 2 Bonds"),
        ("Section 9. Receipts\nGive a receipt.", "Part 2 Bonds > Section 9. Receipts"),
    ]
