"""An append-only JSON-lines record of every /v1 request: who asked (the key), what
(method, route template, path, collection), how it ended (the status actually sent, and
whether the response reached its end) and, where a route knows them, the question and
the documents read, returned or changed: what a regulated (legal, medical) deployment
must keep.

A refused request (401, 403, 413), a failure and an answer whose client hung up are
accesses too, so the entry is written by a middleware once the response is over, not by
the routes; a route only adds what it alone knows through `AuditLog.record`."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.metrics import method_label, route_template
from qa.catalogue import ApiKey, now


@dataclass
class _Entry:
    """What is known of the request under way; the routes and the key check fill it."""

    path: str | None = None
    key: ApiKey | None = None
    collection: str | None = None
    question: str | None = None
    documents: list[str] = field(default_factory=list)


# One per request. Worker threads and tasks started for the request see the same
# entry: anyio and asyncio copy the context, and the copy holds this very object.
_REQUEST: ContextVar[_Entry | None] = ContextVar("qa_audit_request", default=None)


def note_key(key: ApiKey) -> None:
    """The request was made with this key (its entry records who, whatever the outcome)."""
    entry = _REQUEST.get()
    if entry is not None:
        entry.key = key


def note_collection(collection: str) -> None:
    """The request concerns this collection (named in its body, or its job's)."""
    entry = _REQUEST.get()
    if entry is not None:
        entry.collection = collection


class AuditLog:
    def __init__(self, path: Path | None, questions: Literal["hash", "text"]) -> None:
        """path None: auditing is off."""
        self.path = path
        self.questions = questions
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def record(
        self,
        *,
        key: ApiKey | None,
        route: str,
        collection: str | None,
        question: str | None = None,
        documents: Sequence[str] = (),
        status: int = 200,
    ) -> None:
        """Add the question and documents to the current request's entry, which the
        middleware writes with the status really sent (`route` and `status` are then
        its own). Called outside any request, the entry is written at once."""
        entry = _REQUEST.get()
        if entry is None:
            self._write(
                _Entry(None, key, collection, question, list(documents)),
                method=None,
                route=route,
                status=status,
                complete=True,
            )
            return
        entry.key = key or entry.key
        entry.collection = collection or entry.collection
        entry.question = question if question is not None else entry.question
        entry.documents.extend(documents)

    def _write(
        self, entry: _Entry, *, method: str | None, route: str, status: int, complete: bool
    ) -> None:
        if self.path is None:
            return
        line: dict[str, object] = {
            "time": now(),
            "key_id": entry.key.id if entry.key else None,
            "method": method,
            "route": route,
            "path": entry.path,
            "collection": entry.collection,
            "status": status,
            "complete": complete,
            "documents": list(dict.fromkeys(entry.documents)),
        }
        if entry.question is not None:
            if self.questions == "text":
                line["question"] = entry.question
            else:
                line["question_sha256"] = hashlib.sha256(entry.question.encode()).hexdigest()
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(text)


def _audited(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


class AuditMiddleware:
    """One entry per /v1 request, written when its response is over: the status is the
    one sent (500 when the app failed before answering), and `complete` is false when
    the body was cut short (a client that hung up on a streamed answer, or a failure
    mid-stream)."""

    def __init__(self, app: ASGIApp, audit: Callable[[], AuditLog | None]) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        audit = self.audit()
        if scope["type"] != "http" or audit is None or not _audited(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        entry = _Entry(path=scope.get("path"))
        status: int | None = None
        complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True

        token = _REQUEST.set(entry)
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            _REQUEST.reset(token)
            if entry.collection is None:
                # Refused before a route named it (a 401): the collection in the path.
                named = scope.get("path_params", {}).get("collection")
                entry.collection = named if isinstance(named, str) else None
            audit._write(
                entry,
                method=method_label(scope),
                route=route_template(scope),
                status=status or 500,
                complete=complete and status is not None,
            )
