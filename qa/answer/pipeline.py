"""ask(question) -> Answer: the one place retrieval, generation and grounding meet."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from qa.answer.answer_types import expected_type
from qa.answer.answerability import Outcome, answer_features
from qa.answer.assembly import assemble, clarify, not_found
from qa.answer.confidence import STRICT_WEIGHTS_FILE, load_calibration
from qa.answer.evidence import is_evidence
from qa.answer.evidence_selection import compress
from qa.answer.extraction import Candidate, candidates, extractive_grounding
from qa.answer.gate import follow_up_kind, screen
from qa.answer.grounding import Grounder, Grounding
from qa.answer.history import prompt_history
from qa.answer.prompts import Passage, build_messages, select_passages
from qa.answer.question_parts import completed
from qa.answer.verification import verify
from qa.models.protocols import Generator as TextGenerator
from qa.models.protocols import YesNoJudge
from qa.records import Answer, FilterValue, SearchHit, SearchRequest, Turn
from qa.retrieval.context import QueryContext, QuerySource
from qa.retrieval.contextualise import Contextualiser
from qa.retrieval.search import Retriever

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

# An extractive fallback must hold this share of the question's terms: below it the
# best sentence is usually about a neighbouring subject, and "not found" is honest.
_FALLBACK_COVERAGE = 0.4


@dataclass(frozen=True)
class Judged:
    """The answer a user gets and the features its confidence was computed from."""

    answer: Answer
    features: dict[str, float]


class AnswerModels(QuerySource, Protocol):
    """What answering needs of the process beyond retrieval: the generator, loaded
    once. The runtime provides it; the answer layer never imports the runtime."""

    def generator(self) -> TextGenerator: ...

    def verifier(self) -> TextGenerator: ...


class AskPipeline:
    """Retrieve, keep the passages that are evidence, generate from them, then keep
    only the sentences a passage supports, each cited to it.

    A question with no evidence is refused before the generator runs; a generated
    answer with no supported sentence is refused after it. `stream` yields the text
    as it is generated (unverified) and the grounded `Answer` last: only that last
    item is what the documents support.

    With a history (a follow-up in a conversation), the standalone query the
    contextualiser makes of it is what is searched and what grounding and extraction
    weigh sentences against; the generator sees the question as asked, after the last
    few turns. A question with nothing to search for even then gets a question back.
    """

    def __init__(self, models: AnswerModels) -> None:
        self.models = models
        self.retriever = Retriever(models)
        self.contextualiser = Contextualiser(models.settings, models.generator)
        self._unverifiable_told = False

    def open(
        self,
        question: str,
        collection: str = "default",
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
    ) -> QueryContext:
        """Validate the question and open its collection and embedder, once."""
        request = SearchRequest(question, collection, k or self.models.settings.top_k, filters)
        return self.models.open_query(request, what="question")

    def _evidence(
        self, query: QueryContext
    ) -> tuple[list[SearchHit], list[SearchHit], list[Passage], dict[str, float]]:
        settings = self.models.settings
        started = time.perf_counter()
        hits = self.retriever.run(query)
        timings = {"retrieval_s": time.perf_counter() - started}
        embedder = query.query_embedder()
        meaningful = query.language in embedder.languages
        floor = embedder.evidence_floor if settings.min_score is None else settings.min_score
        evidence = [
            h for h in hits if is_evidence(query.text, h, floor, dense_meaningful=meaningful)
        ]
        if not evidence:
            return hits, [], [], timings
        count = self.models.generator().count_tokens
        if settings.evidence_selection:
            passages = compress(query.text, evidence, settings.evidence_tokens, count)
        else:
            passages = select_passages(evidence, settings.context_tokens, count)
        return hits, evidence, passages, timings

    def _ground(self, query: QueryContext, text: str, passages: list[Passage]) -> Grounding | None:
        """None when the model declined; else the draft's grounding."""
        text = _EMPHASIS.sub("", text)
        if _REFUSAL_PHRASES.search(text) or not text.strip():
            return None
        embedder = query.query_embedder()
        grounder = Grounder(
            self.models.settings.support_threshold,
            embedder.embed_queries,
            embedder.paraphrase_floor,
        )
        grounding = grounder.run(
            text.strip(), passages, question=query.text, semantic=query.language == "en"
        )
        if grounding.dropped or grounding.corrected:
            log.info(
                "dropped as unsupported: %s; replaced by their passage's words: %s",
                grounding.dropped,
                grounding.corrected,
            )
        return grounding

    def _fallback(self, query: QueryContext, found: list[Candidate]) -> Grounding | None:
        """The best candidate's sentence, when extraction is on and it is on point."""
        if not self.models.settings.extraction or not found:
            return None
        if found[0].coverage < _FALLBACK_COVERAGE:
            return None
        return extractive_grounding(query.text, found[0], expected_type(query.text), query.language)

    def _judge(
        self,
        query: QueryContext,
        outcome: Outcome,
        timings: dict[str, float],
        screened: dict[str, float],
    ) -> Judged:
        """The final answer with its confidence; refused below the threshold."""
        features = screened | answer_features(query.text, outcome)
        final = outcome.final
        answer = (
            assemble(final, query.language, timings)
            if final is not None
            else not_found(query.language, timings)
        )
        settings = self.models.settings
        judge = self.models.verifier() if settings.verification and answer.found else None
        if isinstance(judge, YesNoJudge):
            started = time.perf_counter()
            features["verified"] = verify(judge, query.text, answer, query.language)
            timings["verification_s"] = time.perf_counter() - started
        elif judge is not None and not self._unverifiable_told:
            self._unverifiable_told = True
            log.warning("strict mode is on, but %s cannot weigh yes against no", judge.name)
        strict = load_calibration(STRICT_WEIGHTS_FILE) if "verified" in features else None
        calibration = strict or load_calibration()
        if calibration is not None:
            answer.confidence = calibration.score(features)
            threshold = settings.confidence_threshold
            if threshold is None:
                threshold = strict.threshold if strict is not None else 0.0
            if answer.found and answer.confidence < threshold:
                log.info("refused at confidence %.3f: %s", answer.confidence, answer.answer)
                confidence = answer.confidence
                answer = not_found(query.language, timings)
                answer.confidence = confidence
        answer.timings = timings
        return Judged(answer, features)

    def judged(
        self, query: QueryContext, history: Sequence[Turn] | None = None
    ) -> Generator[str | Judged, None, None]:
        """Generated text pieces as they come, then the judged answer last."""
        asked, standalone = query, None
        if history is not None:
            standalone = self.contextualiser.run(query.text, history)
            if standalone.clarification:
                timings = {"contextualise_s": standalone.seconds}
                yield Judged(clarify(query.language, standalone.text, timings), {})
                return
            query = replace(query, request=replace(query.request, query=standalone.text))
        judged: Judged | None = None
        for item in self._judged(query, asked.text, history or ()):
            if isinstance(item, str):
                yield item
            else:
                judged = item
        assert judged is not None
        if standalone is not None:
            judged.answer.standalone_question = standalone.text
            judged.answer.timings["contextualise_s"] = standalone.seconds
        yield judged

    def _judged(
        self, query: QueryContext, question: str, history: Sequence[Turn]
    ) -> Generator[str | Judged, None, None]:
        hits, evidence, passages, timings = self._evidence(query)
        if not passages:
            empty = Outcome(hits, evidence, [], [], None, False, None, False)
            yield self._judge(query, empty, timings, {})
            return
        found = candidates(query.text, passages)
        started = time.perf_counter()
        before = Outcome(hits, evidence, passages, found, None, False, None, False)
        threshold = self.models.settings.answerability_threshold
        kind = follow_up_kind(query.text, question, history)
        screened = screen(query.text, before, query.query_embedder(), threshold, follow_up=kind)
        timings["answerability_s"] = time.perf_counter() - started
        if screened.refused:
            log.info("refused before generating, answerability %.3f", screened.score)
            answer = not_found(query.language, timings)
            answer.confidence = screened.score
            yield Judged(answer, screened.features)
            return
        generator = self.models.generator()
        earlier = prompt_history(history, self.models.settings, generator.count_tokens)
        messages = build_messages(question, passages, query.language, earlier)
        started = time.perf_counter()
        pieces: list[str] = []
        logprobs: list[float] = []
        # Closed here, in the thread that closes this stream: left to the garbage
        # collector, a generation could be finalised in any thread, its own worker's too.
        with contextlib.closing(
            generator.stream(
                messages, max_new_tokens=self.models.settings.max_new_tokens, logprobs=logprobs
            )
        ) as tokens:
            for piece in tokens:
                if not pieces:
                    timings["first_token_s"] = time.perf_counter() - started
                pieces.append(piece)
                yield piece
        timings["generation_s"] = time.perf_counter() - started
        draft = self._ground(query, "".join(pieces), passages)
        final = draft if draft is not None and draft.found else None
        if final is not None and self.models.settings.extraction:
            final = completed(query.text, final, passages, _FALLBACK_COVERAGE)
        fallback = None if final is not None else self._fallback(query, found)
        outcome = Outcome(
            hits,
            evidence,
            passages,
            found,
            draft,
            draft is None,
            final or fallback,
            bool(fallback),
            logprobs,
        )
        yield self._judge(query, outcome, timings, screened.features)

    def stream(
        self, query: QueryContext, history: Sequence[Turn] | None = None
    ) -> Generator[str | Answer, None, None]:
        """Generated text pieces as they come, then the grounded Answer last."""
        for item in self.judged(query, history):
            yield item.answer if isinstance(item, Judged) else item

    def ask(
        self,
        question: str,
        collection: str = "default",
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        """The grounded answer alone, for callers that do not stream."""
        final: Answer | None = None
        for item in self.stream(self.open(question, collection, k, filters), history):
            if isinstance(item, Answer):
                final = item
        if final is None:
            raise RuntimeError("the answer stream ended without an answer")
        return final
