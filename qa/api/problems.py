"""Every error leaves the API as application/problem+json, mapped here and only here."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.errors import BusyError, QAError, RequestTimeoutError, UpstreamError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

# The 5xx errors whose detail describes the load (the queue, the deadline) or which
# remote engine failed how (named by host, never by key), which the client needs in
# order to come back later or tell the operator; every other 5xx detail stays in the log.
_LOAD = (BusyError, RequestTimeoutError, UpstreamError)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"Retry-After": "5"} if status in (429, 503) else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="qa"'}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        if isinstance(exc, UpstreamError):
            log.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc.detail)
        if exc.status < 500 or isinstance(exc, _LOAD):
            return problem(exc.status, exc.title, exc.detail)
        # A server-side failure's detail names index folders, model files, Milvus or
        # database hosts: the log keeps it, the client learns only what kind it was.
        log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc.detail)
        return problem(
            exc.status, exc.title, f"{exc.title.lower()} on the server; see the server log"
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "Malformed JSON", "the request body is not valid JSON")
        messages = [f"{_where(tuple(e.get('loc', ())))}: {e.get('msg')}" for e in errors]
        return problem(
            422,
            "Invalid request",
            "; ".join(messages),
            errors=[
                {"field": _where(tuple(e.get("loc", ()))), "message": e.get("msg")} for e in errors
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        return problem(exc.status_code, title, f"{request.method} {request.url.path}: {exc.detail}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "Internal error", "an unexpected error occurred; see the server log")
