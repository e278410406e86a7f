"""Which retrieved passages count as evidence for a question: the gate before the
generator, so a question the documents do not touch is refused without generating."""

from __future__ import annotations

from qa.records import SearchHit
from qa.text import coverage, detect, has_cjk, question_terms


def is_evidence(
    question: str,
    hit: SearchHit,
    min_score: float,
    *,
    dense_meaningful: bool,
    min_coverage: float = 0.5,
) -> bool:
    """A passage counts when it names something the question is about and is close
    in meaning or shares most of the question's words.

    Word coverage alone fails on paraphrase; the dense score alone is noise in a
    language the embedder was not trained on (MiniLM on Chinese scores unrelated
    text 0.3-0.5), and a close dense score with none of the question's terms is
    usually a passage on a neighbouring subject (a visa question matching a
    library-card passage); across languages no term can match, so there the
    multilingual embedder's score decides alone. The generator and the grounding check then decide
    whether an answer is actually there.
    """
    text = f"{hit.chunk.title}\n{hit.chunk.section or ''}\n{hit.chunk.text}"
    share = coverage(question_terms(question), text)
    same_language = (detect(question) == "zh") == has_cjk(hit.chunk.text)
    if share == 0.0 and same_language:
        return False
    if dense_meaningful and hit.dense_score is not None and hit.dense_score >= min_score:
        return True
    return share >= min_coverage
