"""What keeps open loopback mode (no API key, bound to 127.0.0.1) for this machine's
own users, and out of reach of the web pages their browsers open.

Binding to loopback stops other machines, not other web pages. A page can point its own
host name at 127.0.0.1 (DNS rebinding) and then read every answer as same-origin; and a
form or `fetch` may send a cross-site POST (a multipart upload is a "simple" request,
sent without asking). So while the service runs open, a request must name one of this
server's own hosts, and come from its own page or from something that is not a page
(curl, the CLI, the Python client send no Origin or Sec-Fetch-Site). With keys in use
neither matters: a page has no key to send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.api.problems import problem
from qa.api.security import running_open
from qa.api.state import AppState

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _host_and_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    """('localhost', 8000) from 'LocalHost:8000', ('::1', 80) from '[::1]'; None when
    it does not parse."""
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.rstrip("."), port or _DEFAULT_PORTS.get(scheme, 80)


def _same_origin(origin: str, host: str | None, scheme: str) -> bool:
    """Whether the Origin header names the origin this request was sent to. 'null' (a
    sandboxed frame, a file:// page) names none."""
    parts = urlsplit(origin)
    if host is None or not parts.scheme or not parts.netloc:
        return False
    theirs = _host_and_port(parts.netloc, parts.scheme)
    return theirs is not None and theirs == _host_and_port(host, scheme)


class LoopbackGuard:
    """403 in open mode for a Host that is not one of the server's names, and for a
    request sent by another site's page. Top-level navigations (a link followed, GET
    only) still reach the page: the browser shows the result to its user, not to the
    page that linked here."""

    def __init__(
        self, app: ASGIApp, state: Callable[[], AppState | None], allowed_hosts: Iterable[str]
    ) -> None:
        self.app = app
        self.state = state
        self.allowed = LOOPBACK_NAMES | {h.strip().strip("[]").lower() for h in allowed_hosts}

    def refusal(self, scope: Scope) -> str | None:
        """Why this request could come from a web page that is not ours, or None."""
        headers = Headers(scope=scope)
        scheme = str(scope.get("scheme", "http"))
        host = headers.get("host")
        if host is not None:
            named = _host_and_port(host, scheme)
            server = scope.get("server")
            allowed = self.allowed | ({str(server[0]).lower()} if server else set())
            if named is None or named[0] not in allowed:
                return (
                    f"Host {host!r} is not a name of this server; while it runs without API "
                    "keys it answers only to its own names (add one with QA_ALLOWED_HOSTS)"
                )
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host, scheme):
            return (
                f"a request from the web page at {origin!r} was refused: while this server "
                "runs without API keys it answers only its own page"
            )
        navigation = (
            scope.get("method") in _SAFE_METHODS and headers.get("sec-fetch-mode") == "navigate"
        )
        if headers.get("sec-fetch-site") in ("cross-site", "same-site") and not navigation:
            return (
                "a request from another site's web page was refused: while this server runs "
                "without API keys it answers only its own page"
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state()
        if scope["type"] != "http" or state is None or not state.open_allowed:
            await self.app(scope, receive, send)
            return
        why = self.refusal(scope)
        # The catalogue is asked only about suspect requests, and off the event loop.
        if why is not None and await anyio.to_thread.run_sync(running_open, state):
            await problem(403, "Forbidden", why)(scope, receive, send)
            return
        await self.app(scope, receive, send)
