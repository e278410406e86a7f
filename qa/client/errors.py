"""Error responses as one exception: the server's problem+json, or whatever a proxy
sent instead, becomes QAClientError with status, title and detail."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import httpx


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


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: rare enough that the caller's own backoff will do


def error(response: httpx.Response) -> QAClientError:
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
        response.status_code, title, detail, retry_after=retry_after(response), body=body
    )


def check(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        response.read()
        raise error(response)
    return response
