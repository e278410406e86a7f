"""Questions through the generation queue, for every route that answers (/v1/ask and
the OpenAI-compatible /v1/chat/completions): admission or 503, the per-request
timeout, generation stopped when the client leaves, metrics and the audit record."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Generator, Mapping

import anyio
import anyio.to_thread

from qa.answer.language import detect
from qa.api.state import Admission, AppState
from qa.catalogue import ApiKey
from qa.errors import RequestTimeoutError
from qa.pipeline import Answer, not_found
from qa.retrieval import validate_query
from qa.store.docstore import FilterValue

_DONE = object()
Item = str | Answer


class AnswerStream:
    """Tokens then the grounded Answer, pulled one at a time off the event loop.

    Opened (admitted, retrieval done, first item pulled) before the response starts,
    so bad input and a full queue still get a problem response, not a broken stream.
    """

    def __init__(
        self,
        state: AppState,
        items: Generator[Item, None, None],
        admission: Admission,
        *,
        key: ApiKey | None,
        route: str,
        collection: str,
        question: str,
    ) -> None:
        self.state = state
        self._items = items
        self._admission = admission
        self._deadline = time.monotonic() + state.settings.request_timeout_s
        self._first: object = _DONE
        self.key, self.route, self.collection, self.question = key, route, collection, question

    @classmethod
    async def open(
        cls,
        state: AppState,
        question: str,
        collection: str,
        k: int | None,
        filters: Mapping[str, FilterValue] | None,
        *,
        key: ApiKey | None,
        route: str,
    ) -> AnswerStream:
        validate_query(question, state.settings.max_question_chars, "question")
        admission = state.admit()
        try:
            # Hold one of the generator's places for the whole answer: waiting here is
            # the queue. A streamer's thread generates on its own, so a limit taken per
            # token would let every admitted question generate at once.
            with anyio.fail_after(state.settings.request_timeout_s):
                await state.generation_limiter.acquire_on_behalf_of(admission)
        except TimeoutError:
            admission.release()
            raise RequestTimeoutError(
                f"waited {state.settings.request_timeout_s:g} s for the generator"
            ) from None
        except BaseException:
            admission.release()
            raise
        admission.on_release(lambda: state.generation_limiter.release_on_behalf_of(admission))
        try:
            if state.has_documents(collection):
                items = state.pipeline.stream(question, collection, k, filters)
            else:
                items = _empty_collection_answer(question)
            stream = cls(
                state,
                items,
                admission,
                key=key,
                route=route,
                collection=collection,
                question=question,
            )
            stream._first = await stream._next()
            return stream
        except BaseException:
            admission.release()
            raise

    async def _next(self) -> object:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimeoutError(
                f"no answer within {self.state.settings.request_timeout_s:g} s; "
                "generation was stopped"
            )
        return await anyio.to_thread.run_sync(lambda: next(self._items, _DONE))

    async def __aiter__(self) -> AsyncIterator[Item]:
        try:
            item = self._first
            while item is not _DONE:
                assert isinstance(item, str | Answer)
                if isinstance(item, Answer):
                    self._record(item)
                yield item
                item = await self._next()
        finally:
            await self.close()

    async def close(self) -> None:
        """Closing the pipeline's iterator trips the generator's stop flag, which
        frees the CPU when a client hangs up or the deadline passes."""
        try:
            await anyio.to_thread.run_sync(self._items.close)
        finally:
            self._admission.release()

    async def answer(self) -> Answer:
        """Drain to the final Answer (the non-streaming routes)."""
        async for item in self:
            if isinstance(item, Answer):
                return item
        raise RuntimeError("the pipeline ended without an answer")

    def _record(self, answer: Answer) -> None:
        self.state.metrics.observe_answer(answer.timings, answer.found)
        self.state.audit.record(
            key=self.key,
            route=self.route,
            collection=self.collection,
            question=self.question,
            documents=[c.document for c in answer.citations],
        )


def _empty_collection_answer(question: str) -> Generator[Item, None, None]:
    """A collection created over HTTP whose first upload has not landed yet."""
    yield not_found(detect(question), {"retrieval_s": 0.0})
