"""OpenAI's error envelope on the app's own problem responses.

OpenAI SDKs read an `error` object and put only its `message` into the text of the
exceptions they raise; a problem+json document may carry extension members, so each
response carries both, from one mapping, readable by both kinds of client."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from qa.errors import QAError

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    503: "server_error",
    504: "timeout_error",
}


def error_object(status: int, title: str, detail: str) -> dict[str, Any]:
    """OpenAI's error object. Its SDKs put only `message` into the text of the exceptions
    they raise, so without it a client would read "Error code: 404" and nothing more."""
    return {
        "message": detail,
        "type": _ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        ),
        "param": None,
        "code": title.lower().replace(" ", "_"),
        "status": status,
    }


async def _with_error_object(request: Request, exc: Exception) -> Response:
    """The app's own problem+json response for `exc`, plus an OpenAI `error` member (a
    problem document may carry extension members): one mapping, readable by both kinds
    of client."""
    handlers: dict[Any, Any] = request.app.exception_handlers
    handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
    if handler is None:
        raise exc
    response = handler(request, exc)
    if inspect.isawaitable(response):
        response = await response
    if not isinstance(response, JSONResponse):
        return response
    body = json.loads(bytes(response.body))
    if not isinstance(body, dict) or "detail" not in body:
        return response
    body["error"] = error_object(response.status_code, str(body.get("title")), str(body["detail"]))
    keep = {"retry-after", "www-authenticate"}
    headers = {k: v for k, v in response.headers.items() if k.lower() in keep}
    if response.status_code == 504:
        # OpenAI SDKs retry any 5xx twice by default; a question that already used the
        # whole request timeout would only use it again. (503 Busy is worth retrying.)
        headers["x-should-retry"] = "false"
    return JSONResponse(
        body, status_code=response.status_code, media_type=response.media_type, headers=headers
    )


class OpenAIRoute(APIRoute):
    """Errors raised while a request is handled (the key check, the body's validation,
    the route itself) get the OpenAI error member; the stream's own errors are sent
    in it (see qa.api.openai.stream)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except (QAError, RequestValidationError, HTTPException) as exc:
                return await _with_error_object(request, exc)

        return route
