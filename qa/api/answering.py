"""Questions through the generation queue, for every route that answers (/v1/ask and
the OpenAI-compatible /v1/chat/completions): admission or 503, the per-request
timeout, generation stopped when the client leaves, metrics and the audit record."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from qa.answer.assembly import not_found
from qa.answer.history import checked_history
from qa.api.state import Admission, AppState
from qa.catalogue import ApiKey
from qa.errors import RequestTimeoutError
from qa.records import Answer, FilterValue, SearchRequest, Turn
from qa.text import detect

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
        deadline: float | None = None,
    ) -> None:
        self.state = state
        self._items = items
        self._admission = admission
        self._deadline = deadline or time.monotonic() + state.settings.request_timeout_s
        self._first: object = _DONE
        # A pull abandoned at the deadline may still be running in its thread: the
        # iterator is then closed by that thread as soon as the pull returns (a running
        # generator cannot be closed from outside).
        self._lock = threading.Lock()
        self._pulling = False
        self._closed = False
        self.key, self.route, self.collection, self.question = key, route, collection, question
        self._on_answer: list[Callable[[Answer], None]] = []

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
        history: Sequence[Turn] | None = None,
    ) -> AnswerStream:
        """`history`: the turns before the question (a client's, or a stored
        conversation's), which makes the question a follow-up; None for a question
        asked on its own (the answer then has no `standalone_question`)."""
        deadline = time.monotonic() + state.settings.request_timeout_s
        # Bad input and an unknown collection are answered before queueing: they are no load.
        turns = None if history is None else checked_history(history, state.settings)
        request = SearchRequest(question, collection, k or state.settings.top_k, filters)
        query = await state.run_search(lambda: state.open_query(request, what="question"))
        # Recorded now: a client that hangs up before the answer still leaves its question.
        state.audit.record(key=key, route=route, collection=collection, question=question)
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
            if query is None:
                items = _empty_collection_answer(question, turns is not None)
            elif turns is None:
                items = state.pipeline.stream(query)
            else:
                items = state.pipeline.stream(query, turns)
            stream = cls(
                state,
                items,
                admission,
                key=key,
                route=route,
                collection=collection,
                question=question,
                deadline=deadline,
            )
        except BaseException:
            admission.release()
            raise
        try:
            stream._first = await stream._next()
        except BaseException:
            # Stops a generation still running (a pull past the deadline) and leaves
            # the queue: the caller gets the error as a problem response.
            await stream.close()
            raise
        return stream

    def on_answer(self, step: Callable[[Answer], None]) -> None:
        """Run `step` (blocking: in a worker thread) on the final Answer before it is
        passed on; never for a stream that ends before its answer (a client that left)."""
        self._on_answer.append(step)

    def _timed_out(self) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"no answer within {self.state.settings.request_timeout_s:g} s; generation was stopped"
        )

    def _pull(self) -> object:
        try:
            return next(self._items, _DONE)
        finally:
            with self._lock:
                self._pulling = False
                close_now = self._closed
            if close_now:
                self._items.close()

    async def _next(self) -> object:
        """The next item, or 504 at the deadline, even while one pull (retrieval, the
        prompt's prefill, a slow token) is still under way."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out()
        with self._lock:
            if self._closed:
                return _DONE
            self._pulling = True
        with anyio.move_on_after(remaining):
            return await anyio.to_thread.run_sync(self._pull, abandon_on_cancel=True)
        raise self._timed_out()

    async def __aiter__(self) -> AsyncGenerator[Item, None]:
        try:
            item = self._first
            while item is not _DONE:
                assert isinstance(item, str | Answer)
                if isinstance(item, Answer):
                    self._record(item)
                    for step in self._on_answer:
                        await anyio.to_thread.run_sync(step, item)
                yield item
                item = await self._next()
        finally:
            await self.close()

    async def close(self) -> None:
        """Closing the pipeline's iterator trips the generator's stop flag, which
        frees the CPU when a client hangs up or the deadline passes."""
        try:
            with self._lock:
                already, self._closed = self._closed, True
                pulling = self._pulling
            if not already and not pulling:
                # Shielded: a client that hung up cancels this request's scope, and the
                # generation must stop all the same.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._items.close)
        finally:
            self._admission.release()

    async def answer(self) -> Answer:
        """Drain to the final Answer (the non-streaming routes). Closed before this
        returns: an async generator left at its last item would free its place in the
        queue only whenever it is garbage-collected."""
        items = aiter(self)
        try:
            async for item in items:
                if isinstance(item, Answer):
                    return item
        finally:
            await items.aclose()
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


def _empty_collection_answer(question: str, follow_up: bool) -> Generator[Item, None, None]:
    """A collection created over HTTP whose first upload has not landed yet."""
    answer = not_found(detect(question), {"retrieval_s": 0.0})
    if follow_up:
        answer.standalone_question = question.strip()
    yield answer


class AnswerStreamResponse(StreamingResponse):
    """A streamed answer that closes its AnswerStream however the response ends.

    Starlette skips a response's background task when the client disconnects (ASGI 2.4
    servers report it as an error from `send`), and the body's async generator is then
    only finalised whenever the garbage collector gets to it: the generation would run
    on, holding the generator and its place in the queue, for no one.
    """

    def __init__(self, content: AsyncIterator[str], stream: AnswerStream, **kw: Any) -> None:
        super().__init__(content, **kw)
        self._answer_stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._answer_stream.close()
