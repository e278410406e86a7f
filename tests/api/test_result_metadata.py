"""What a search result shows of its document's metadata: an OCR'd document's line
boxes cut to the passage's own lines; anything else, user metadata included, as stored."""

from __future__ import annotations

from typing import Any

from qa.records import SearchHit, StoredChunk
from qa.views import result_dict

TEXT = "Cover page\n\nSection 4. Bond\nA landlord must not ask for more than four weeks."
BOXES = {
    "1": [[0.1, 0.1, 0.5, 0.15, 0, 10]],
    "2": [[0.1, 0.1, 0.4, 0.15, 12, 27], [0.1, 0.2, 0.9, 0.25, 28, len(TEXT)]],
}


def _hit(start: int, end: int, metadata: dict[str, Any]) -> SearchHit:
    chunk = StoredChunk(1, "lease.pdf", 0, start, end, 2, None, TEXT[start:end], "", metadata)
    return SearchHit(chunk, 0.5)


def test_a_passage_shows_only_the_boxes_of_its_own_lines() -> None:
    metadata: dict[str, Any] = {"ocr": {"engine": "rapidocr", "boxes": BOXES}, "kind": "lease"}
    start = TEXT.index("A landlord")
    shown = result_dict(1, _hit(start, len(TEXT), metadata))["metadata"]
    assert shown == {
        "ocr": {"engine": "rapidocr", "boxes": {"2": [BOXES["2"][1]]}},
        "kind": "lease",
    }
    both = result_dict(1, _hit(12, len(TEXT), metadata))["metadata"]["ocr"]["boxes"]
    assert both == {"2": BOXES["2"]}
    assert metadata["ocr"]["boxes"] is BOXES and len(BOXES["2"]) == 2  # stored copy untouched


def test_metadata_that_only_looks_like_ocr_boxes_is_shown_as_stored() -> None:
    for odd in (
        {"ocr": "yes"},
        {"ocr": {"boxes": "none"}},
        {"ocr": {"boxes": {"1": "x"}}},
        {"ocr": {"boxes": {"1": [[1, 2, 3]]}}},
        {"ocr": {"boxes": {"1": [[0, 0, 1, 1, "a", "b"]]}}},
        {"ocr": {"boxes": {"1": [[0, 0, 1, 1, True, 5]]}}},
    ):
        assert result_dict(1, _hit(0, 10, odd))["metadata"] == odd


def test_a_citation_of_an_ocr_passage_names_its_lines_and_the_quotes() -> None:
    from qa.answer.assembly import assemble
    from qa.answer.grounding import GroundedSentence, Grounding, Support
    from qa.answer.prompts import Passage

    ocr = {"engine": "rapidocr", "boxes": BOXES, "page_images": ["2"]}
    start = TEXT.index("Section 4")
    hit = _hit(start, len(TEXT), {"ocr": ocr})
    # The passage given to the generator starts 11 characters into the chunk.
    passage = Passage(1, hit, TEXT[start + 11 :], start=11)
    quote = passage.text.index("four weeks")
    support = Support(passage, 0.9, quote, quote + len("four weeks"))
    grounding = Grounding([GroundedSentence("Four weeks.", support)], [])
    (citation,) = assemble(grounding, "en", {}).citations
    assert citation.regions == [
        {"page": "2", "box": [0.1, 0.1, 0.4, 0.15], "quote": False, "image": True},
        {"page": "2", "box": [0.1, 0.2, 0.9, 0.25], "quote": True, "image": True},
    ]
    # Without boxes (a born-digital page, or user metadata shaped otherwise): none.
    plain = Passage(1, _hit(start, len(TEXT), {"ocr": {"boxes": "none"}}), passage.text, 11)
    odd = Grounding([GroundedSentence("Four weeks.", Support(plain, 0.9, 0, 4))], [])
    assert assemble(odd, "en", {}).citations[0].regions == []
