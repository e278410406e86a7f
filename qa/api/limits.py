"""Refuse oversized bodies before they are read into memory."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.problems import PROBLEM


class BodyLimit:
    """413 for a body over the limit, whether announced by Content-Length or streamed.
    Document uploads (paths ending in /documents) get their own, larger limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.json_limit = max_bytes
        self.upload_limit = max_upload_bytes

    async def _reject(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Payload too large",
                "status": 413,
                "detail": f"request body is over the limit of {limit} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.upload_limit if path.rstrip("/").endswith("/documents") else self.json_limit
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._reject(send, limit)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(413, f"request body is over the limit of {limit} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, limit)


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parser lets it through as a 413."""
