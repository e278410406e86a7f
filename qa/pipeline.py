"""ask(question) -> Answer: the one place retrieval, generation and grounding meet."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Generator, Mapping

from qa.answer.grounding import Grounder, Grounding
from qa.answer.prompts import REFUSALS, Passage, build_messages, select_passages
from qa.records import Answer, Citation, FilterValue, SearchHit, SearchRequest
from qa.retrieval import Retriever, validate_query
from qa.runtime import Runtime
from qa.text import Language, coverage, detect, has_cjk, question_terms

log = logging.getLogger(__name__)

# How small models phrase "the passages do not say" when they ignore the exact mark.
_REFUSAL_PHRASES = re.compile(
    r"NOT[_ ]FOUND|do(?:es)? not (?:contain|mention|provide|say|specify|include)|"
    r"(?:no|not enough) information|cannot (?:be )?(?:answer|determine|find)|"
    r"没有找到|未提及|没有提到|无法回答|没有相关|未找到",
    re.IGNORECASE,
)

# Markdown emphasis the models like to add around key facts; the documents lack it.
_EMPHASIS = re.compile(r"\*\*|__")


def not_found(language: Language, timings: dict[str, float]) -> Answer:
    return Answer(REFUSALS[language], False, [], language, timings)


def assemble(grounding: Grounding, language: Language, timings: dict[str, float]) -> Answer:
    """The answer text with [n] after each supported sentence, and its citations."""
    if not grounding.found:
        return not_found(language, timings)
    numbering: dict[str, int] = {}
    citations: list[Citation] = []
    parts: list[str] = []
    for sentence in grounding.sentences:
        support = sentence.support
        if support is None:
            parts.append(sentence.text)
            continue
        chunk = support.passage.hit.chunk
        n = numbering.get(chunk.chunk_id)
        if n is None:
            n = numbering[chunk.chunk_id] = len(numbering) + 1
            citations.append(
                Citation(
                    n=n,
                    document=chunk.document_id,
                    chunk_id=chunk.chunk_id,
                    page=chunk.page,
                    text=support.passage.text,
                    quote=support.quote,
                    score=round(support.passage.hit.score, 6),
                    quote_start=support.quote_start,
                    quote_end=support.quote_end,
                    title=chunk.title,
                    section=chunk.section,
                )
            )
        separator = "" if language == "zh" else " "
        parts.append(f"{sentence.text}{separator}[{n}]")
    return Answer(("" if language == "zh" else " ").join(parts), True, citations, language, timings)


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


class AskPipeline:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.retriever = Retriever(runtime)

    def _prepare(
        self,
        question: str,
        collection: str,
        k: int | None,
        filters: Mapping[str, FilterValue] | None,
    ) -> tuple[str, Language, list[Passage], dict[str, float]]:
        settings = self.runtime.settings
        question = validate_query(question, settings.max_question_chars, "question")
        language = detect(question)
        started = time.perf_counter()
        hits = self.retriever.search(
            SearchRequest(question, collection, k or settings.top_k, filters)
        )
        timings = {"retrieval_s": time.perf_counter() - started}
        embedder = self.runtime.query_embedder(self.runtime.collection(collection))
        meaningful = language in embedder.languages
        floor = embedder.evidence_floor if settings.min_score is None else settings.min_score
        evidence = [h for h in hits if is_evidence(question, h, floor, dense_meaningful=meaningful)]
        if not evidence:
            return question, language, [], timings
        generator = self.runtime.generator()
        passages = select_passages(evidence, settings.context_tokens, generator.count_tokens)
        return question, language, passages, timings

    def _ground(
        self, question: str, text: str, language: Language, passages: list[Passage], collection: str
    ) -> Answer | None:
        """None when the model declined; else the grounded answer."""
        text = _EMPHASIS.sub("", text)
        if _REFUSAL_PHRASES.search(text) or not text.strip():
            return None
        embedder = self.runtime.query_embedder(self.runtime.collection(collection))
        grounder = Grounder(
            self.runtime.settings.support_threshold,
            embedder.embed_queries,
            embedder.paraphrase_floor,
        )
        grounding = grounder.run(
            text.strip(), passages, question=question, semantic=language == "en"
        )
        if grounding.dropped:
            log.info(
                "dropped %d unsupported sentence(s): %s", len(grounding.dropped), grounding.dropped
            )
        if grounding.corrected:
            log.info(
                "replaced %d sentence(s) that contradict their passage by its words: %s",
                len(grounding.corrected),
                grounding.corrected,
            )
        return assemble(grounding, language, {})

    def stream(
        self,
        question: str,
        collection: str = "default",
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
    ) -> Generator[str | Answer, None, None]:
        """Generated text pieces as they come, then the grounded Answer last."""
        question, language, passages, timings = self._prepare(question, collection, k, filters)
        if not passages:
            yield not_found(language, timings)
            return
        generator = self.runtime.generator()
        messages = build_messages(question, passages, language)
        started = time.perf_counter()
        pieces: list[str] = []
        # Closed here, in the thread that closes this stream: left to the garbage
        # collector, a generation could be finalised in any thread, its own worker's too.
        with contextlib.closing(
            generator.stream(messages, max_new_tokens=self.runtime.settings.max_new_tokens)
        ) as tokens:
            for piece in tokens:
                if not pieces:
                    timings["first_token_s"] = time.perf_counter() - started
                pieces.append(piece)
                yield piece
        timings["generation_s"] = time.perf_counter() - started
        text = "".join(pieces)
        grounded = self._ground(question, text, language, passages, collection)
        answer = grounded or not_found(language, timings)
        answer.timings = timings
        yield answer

    def ask(
        self,
        question: str,
        collection: str = "default",
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
    ) -> Answer:
        final: Answer | None = None
        for item in self.stream(question, collection, k, filters):
            if isinstance(item, Answer):
                final = item
        if final is None:
            raise RuntimeError("the answer stream ended without an answer")
        return final
