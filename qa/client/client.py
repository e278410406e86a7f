"""The client itself: one method per route, each returning the server's JSON shape."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self, cast

import httpx

from qa.client.chat import Chat
from qa.client.errors import QAClientError, check
from qa.client.shapes import (
    Answer,
    Collection,
    Conversation,
    ConversationsPage,
    Document,
    DocumentsPage,
    FilterValue,
    Job,
    Record,
    SearchResult,
    StreamItem,
    Turn,
    Upload,
)
from qa.client.wire import ask_body, document_path, lines, segment, single_upload, sse_events

_FINISHED = ("done", "failed")

DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
"""Generous: an answer is generated on the server's CPU and may first wait in its queue."""


class Client:
    """One connection pool for a session of calls; close it, or use `with`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        """`http_client` brings your own httpx client
        (proxies, TLS, or a test transport such as FastAPI's TestClient); its base URL
        is then used and it is not closed by this one."""
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owned = http_client is None
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return check(self._http.request(method, path, headers=self._headers, **kwargs))

    # Answers and search.

    def ask(
        self,
        question: str,
        collection: str | None = None,
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
        *,
        history: Sequence[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        """`history`: the turns before the question, oldest first, so that a follow-up
        means what it refers to; `conversation_id`: a conversation the server keeps
        instead (its collection is used when none is given). `chat()` keeps either."""
        body = ask_body(question, collection, k, filters, stream=False, history=history,
                        conversation_id=conversation_id)  # fmt: skip
        return cast(Answer, self._request("POST", "/v1/ask", json=body).json())

    def ask_stream(
        self,
        question: str,
        collection: str | None = None,
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
        *,
        history: Sequence[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> Iterator[StreamItem]:
        """Errors before the answer starts raise at the first `next()`; an error after
        it (the server's deadline) raises where it happens in the stream. Leaving the
        loop early closes the connection, which stops the generation on the server."""
        body = ask_body(question, collection, k, filters, stream=True, history=history,
                        conversation_id=conversation_id)  # fmt: skip
        with self._http.stream("POST", "/v1/ask", json=body, headers=self._headers) as response:
            check(response)
            for event, data in sse_events(lines(response.iter_text())):
                if event == "token":
                    yield str(data["text"])
                elif event == "answer":
                    yield cast(Answer, data)
                elif event == "error":
                    raise QAClientError(
                        int(data.get("status", 500)),
                        str(data.get("title", "Error")),
                        str(data.get("detail", "")),
                        body=data,
                    )

    def chat(
        self,
        collection: str | None = None,
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
        *,
        server: bool = False,
        conversation_id: str | None = None,
    ) -> Chat:
        """A conversation: each `ask` on it sends the turns before it. Kept here and sent
        as `history` (the server stores nothing), or with `server=True` kept by the
        server too (POST /v1/conversations); `conversation_id` resumes a stored one."""
        if conversation_id is None and server:
            conversation_id = self.create_conversation(collection)["id"]
        if conversation_id is None:
            return Chat(self, collection, k, filters)
        stored = self.conversation(conversation_id)
        turns = [Turn(role=m["role"], content=m["content"]) for m in stored["messages"]]
        return Chat(self, stored["collection"], k, filters, conversation_id, turns)

    def search(
        self,
        query: str,
        collection: str = "default",
        k: int = 10,
        filters: Mapping[str, FilterValue] | None = None,
        *,
        mode: Literal["hybrid", "dense", "sparse"] = "hybrid",
    ) -> list[SearchResult]:
        body: dict[str, Any] = {"query": query, "collection": collection, "k": k, "mode": mode}
        if filters is not None:
            body["filters"] = dict(filters)
        response = self._request("POST", "/v1/search", json=body)
        return cast(list[SearchResult], response.json()["results"])

    # Documents and ingestion jobs.

    def upload(
        self,
        paths_or_files: Upload | Sequence[Upload],
        collection: str = "default",
        wait: bool = True,
        timeout: float | None = 600.0,
    ) -> Job:
        """Ingestion runs in the background on the server; with `wait` this returns once
        the job is done or failed (check `status` and `errors`: a file the server could
        not read fails alone, the rest is ingested). `timeout` bounds the wait only."""
        items: Sequence[Upload] = (
            [cast(Upload, paths_or_files)]
            if single_upload(paths_or_files)
            else cast(Sequence[Upload], paths_or_files)
        )
        if not items:
            raise ValueError("upload needs at least one file")
        with contextlib.ExitStack() as stack:
            files: list[tuple[str, tuple[str, bytes | IO[bytes]]]] = []
            for item in items:
                if isinstance(item, tuple):
                    name, content = item
                else:
                    path = Path(item)
                    name, content = path.name, stack.enter_context(path.open("rb"))
                files.append(("files", (name, content)))
            response = self._request(
                "POST", f"/v1/collections/{segment(collection)}/documents", files=files
            )
        job = cast(Job, response.json())
        return self.wait_for_job(job["id"], timeout) if wait else job

    def upload_records(
        self,
        records: Iterable[Record | Mapping[str, Any]],
        collection: str = "default",
        wait: bool = True,
        timeout: float | None = 600.0,
    ) -> Job:
        """Text that is not in a file (a database, a crawler): each record is one
        document, its `id` the document id."""
        body = {"records": [dict(r) for r in records]}
        response = self._request(
            "POST", f"/v1/collections/{segment(collection)}/documents", json=body
        )
        job = cast(Job, response.json())
        return self.wait_for_job(job["id"], timeout) if wait else job

    def job(self, job_id: str) -> Job:
        return cast(Job, self._request("GET", f"/v1/jobs/{segment(job_id)}").json())

    def wait_for_job(self, job_id: str, timeout: float | None = 600.0) -> Job:
        """Polls, quickly at first (small uploads finish in well under a second), then
        once a second. Raises TimeoutError if the job is still going at `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            job = self.job(job_id)
            if job["status"] in _FINISHED:
                return job
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError(
                    f"job {job_id} is still {job['status']} after {timeout:g} s "
                    f"({job['progress']['done']}/{job['progress']['total']} documents)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def documents(
        self, collection: str = "default", offset: int = 0, limit: int = 100
    ) -> DocumentsPage:
        response = self._request(
            "GET",
            f"/v1/collections/{segment(collection)}/documents",
            params={"offset": offset, "limit": limit},
        )
        return cast(DocumentsPage, response.json())

    def document(self, document_id: str, collection: str = "default") -> Document:
        return cast(Document, self._request("GET", document_path(collection, document_id)).json())

    def delete_document(self, document_id: str, collection: str = "default") -> None:
        """Gone from search and answers when this returns; 404 (QAClientError) when the
        document is not in the collection."""
        self._request("DELETE", document_path(collection, document_id))

    # Collections.

    def collections(self) -> list[Collection]:
        response = self._request("GET", "/v1/collections")
        return cast(list[Collection], response.json()["collections"])

    def create_collection(
        self,
        name: str,
        embedder: Literal["auto", "minilm", "e5-multilingual"] | None = None,
    ) -> Collection:
        """Only needed to choose the embedder: uploading to a missing collection is a 404."""
        body: dict[str, Any] = {"name": name}
        if embedder is not None:
            body["embedder"] = embedder
        return cast(Collection, self._request("POST", "/v1/collections", json=body).json())

    def delete_collection(self, name: str) -> None:
        self._request("DELETE", f"/v1/collections/{segment(name)}")

    # Conversations kept by the server.

    def create_conversation(self, collection: str | None = None) -> Conversation:
        body = {} if collection is None else {"collection": collection}
        return cast(Conversation, self._request("POST", "/v1/conversations", json=body).json())

    def conversations(
        self, collection: str | None = None, offset: int = 0, limit: int = 50
    ) -> ConversationsPage:
        """The key's own conversations (an admin key's: all in its collections), latest first."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if collection is not None:
            params["collection"] = collection
        response = self._request("GET", "/v1/conversations", params=params)
        return cast(ConversationsPage, response.json())

    def conversation(self, conversation_id: str) -> Conversation:
        """With its messages, oldest first."""
        path = f"/v1/conversations/{segment(conversation_id)}"
        return cast(Conversation, self._request("GET", path).json())

    def delete_conversation(self, conversation_id: str) -> None:
        self._request("DELETE", f"/v1/conversations/{segment(conversation_id)}")
