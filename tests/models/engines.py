"""Small OpenAI-compatible engines in a thread, each answering as a test tells it to
(slow, cut short, refusing): the failures a real engine shows only by chance."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Engine:
    """What the fake engine saw, and how it answers: `reply(handler, body)`."""

    def __init__(self, reply: Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]) -> None:
        self.reply = reply
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.disconnected = threading.Event()


def sse(handler: BaseHTTPRequestHandler, pieces: list[str], *, delay: float = 0.0) -> None:
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.end_headers()
    try:
        for piece in pieces:
            event = {
                "choices": [
                    {
                        "delta": {"content": piece},
                        "logprobs": {"content": [{"token": piece, "logprob": -0.5}]},
                    }
                ]
            }
            handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            handler.wfile.flush()
            time.sleep(delay)
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        handler.server.engine.disconnected.set()  # type: ignore[attr-defined]


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(engine: Engine) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                engine.requests.append((dict(self.headers), body))
                engine.reply(self, body)
                self.close_connection = True

            def do_GET(self) -> None:
                data = json.dumps({"object": "list", "data": []}).encode()
                self.send_response(200 if self.path.endswith("/models") else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def end_headers(self) -> None:
                # Said, not only done: a client that reuses a connection closed
                # silently fails at random ("disconnected without a response").
                self.send_header("connection", "close")
                super().end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.engine = engine  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
