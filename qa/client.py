"""A small synchronous Python client for the qa HTTP API.

    from qa.client import Client

    with Client("http://127.0.0.1:8000", api_key=None) as qa:
        job = qa.upload(["notes/policy.pdf"], collection="default")   # waits for ingestion
        answer = qa.ask("How long is the loan period?")
        for item in qa.ask_stream("How long is the loan period?"):
            if isinstance(item, str):
                print(item, end="", flush=True)                       # the draft, as written
            else:
                answer = item                                         # the grounded answer

Every error the server reports (problem+json) is raised as QAClientError with its
status, title and detail, so callers branch on `status` rather than parse bodies.
Transport failures (connection refused, timeouts) stay httpx exceptions: they say
nothing about the request and are usually retried differently.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, NotRequired, Self, TypedDict, cast
from urllib.parse import quote

import httpx

__all__ = [
    "Answer",
    "Citation",
    "Client",
    "Collection",
    "Document",
    "DocumentsPage",
    "Job",
    "QAClientError",
    "Record",
    "SearchResult",
    "StreamItem",
    "Upload",
]

FilterValue = str | int | float | bool | list[str | int | float | bool]


class Citation(TypedDict):
    n: int
    document: str
    chunk_id: str
    page: int | None
    text: str
    quote: str
    score: float
    quote_start: int
    quote_end: int
    title: str
    section: str | None


class Answer(TypedDict):
    answer: str
    found: bool
    citations: list[Citation]
    language: str
    timings: dict[str, float]


class SearchResult(TypedDict):
    rank: int
    score: float
    document: str
    chunk_id: str
    page: int | None
    text: str
    title: str
    section: str | None
    metadata: dict[str, Any]
    explain: NotRequired[dict[str, float | int | None] | None]


class JobProgress(TypedDict):
    done: int
    total: int
    fraction: float | None


class Job(TypedDict):
    id: str
    collection: str
    status: Literal["queued", "running", "done", "failed"]
    files: list[str]
    progress: JobProgress
    errors: list[str]
    result: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None


class Collection(TypedDict):
    name: str
    documents: int
    chunks: int
    embedder: str | None
    generation: int | None
    created_at: str | None


class Document(TypedDict):
    id: str
    title: str
    chunks: int
    characters: int
    ingested_at: str
    metadata: dict[str, Any]
    content_hash: str
    text: NotRequired[str | None]


class DocumentsPage(TypedDict):
    documents: list[Document]
    total: int
    offset: int
    limit: int


class Record(TypedDict):
    id: str
    text: str
    title: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]


StreamItem = str | Answer
"""What ask_stream yields: draft text pieces (str) as the model writes, then one Answer.
The draft is not the answer: grounding may drop its sentences and adds [n] markers."""

Upload = str | os.PathLike[str] | tuple[str, bytes | IO[bytes]]
"""A file to upload: a path, or (file name, content). The file name becomes the
document id, as with `qa ingest FILE`."""

_FINISHED = ("done", "failed")

DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
"""Generous: an answer is generated on the server's CPU and may first wait in its queue."""


class QAClientError(Exception):
    """An error response from the server. `retry_after` (seconds) is set when the server
    asks to come back later, as it does with 503 when the generation queue is full."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.retry_after = retry_after
        self.body: dict[str, Any] = dict(body or {})


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: rare enough that the caller's own backoff will do


def _error(response: httpx.Response) -> QAClientError:
    """A problem+json body gives title and detail; anything else (a proxy's HTML page)
    still gives a usable error rather than a JSON decoding failure."""
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if isinstance(body, dict):
        title = str(body.get("title") or response.reason_phrase)
        detail = str(body.get("detail") or body.get("message") or response.text)
    else:
        body = None
        title = response.reason_phrase or f"HTTP {response.status_code}"
        detail = response.text.strip()[:500] or title
    return QAClientError(
        response.status_code, title, detail, retry_after=_retry_after(response), body=body
    )


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        response.read()
        raise _error(response)
    return response


def _segment(value: str) -> str:
    """A path segment that cannot escape its place in the URL."""
    return quote(value, safe="")


def _single_upload(item: object) -> bool:
    if isinstance(item, str | os.PathLike):
        return True
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and not isinstance(item[1], str)
    )


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
        return _check(self._http.request(method, path, headers=self._headers, **kwargs))

    # Answers and search.

    def ask(
        self,
        question: str,
        collection: str = "default",
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
    ) -> Answer:
        body = _ask_body(question, collection, k, filters, stream=False)
        return cast(Answer, self._request("POST", "/v1/ask", json=body).json())

    def ask_stream(
        self,
        question: str,
        collection: str = "default",
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
    ) -> Iterator[StreamItem]:
        """Errors before the answer starts raise at the first `next()`; an error after
        it (the server's deadline) raises where it happens in the stream. Leaving the
        loop early closes the connection, which stops the generation on the server."""
        body = _ask_body(question, collection, k, filters, stream=True)
        with self._http.stream("POST", "/v1/ask", json=body, headers=self._headers) as response:
            _check(response)
            for event, data in _sse_events(_lines(response.iter_text())):
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
            if _single_upload(paths_or_files)
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
                "POST", f"/v1/collections/{_segment(collection)}/documents", files=files
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
            "POST", f"/v1/collections/{_segment(collection)}/documents", json=body
        )
        job = cast(Job, response.json())
        return self.wait_for_job(job["id"], timeout) if wait else job

    def job(self, job_id: str) -> Job:
        return cast(Job, self._request("GET", f"/v1/jobs/{_segment(job_id)}").json())

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
            f"/v1/collections/{_segment(collection)}/documents",
            params={"offset": offset, "limit": limit},
        )
        return cast(DocumentsPage, response.json())

    def document(self, document_id: str, collection: str = "default") -> Document:
        return cast(Document, self._request("GET", _document_path(collection, document_id)).json())

    def delete_document(self, document_id: str, collection: str = "default") -> None:
        """Gone from search and answers when this returns; 404 (QAClientError) when the
        document is not in the collection."""
        self._request("DELETE", _document_path(collection, document_id))

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
        self._request("DELETE", f"/v1/collections/{_segment(name)}")


def _ask_body(
    question: str,
    collection: str,
    k: int | None,
    filters: Mapping[str, FilterValue] | None,
    *,
    stream: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question, "collection": collection, "stream": stream}
    if k is not None:
        body["k"] = k
    if filters is not None:
        body["filters"] = dict(filters)
    return body


def _document_path(collection: str, document_id: str) -> str:
    """One segment, '/' escaped too: an id is free text, and a '..' left as a segment of
    its own would be resolved away (`../../x` would name the collection `x`). The server
    takes the decoded rest of the path as the id."""
    return f"/v1/collections/{_segment(collection)}/documents/{_segment(document_id)}"


def _lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines ended by LF (a CR before it dropped), as the server writes them. httpx's
    iter_lines also splits at U+2028, U+0085 and the like, which JSON leaves unescaped
    inside strings: a passage holding one would cut a data line in two."""
    pending = ""
    for chunk in chunks:
        *complete, pending = (pending + chunk).split("\n")
        yield from (line.removesuffix("\r") for line in complete)
    if pending:
        yield pending.removesuffix("\r")


def _sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-Sent Events as (event, JSON data): only what the qa server sends, which
    is one JSON `data` line per event."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, json.loads("\n".join(data))
