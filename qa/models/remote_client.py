"""HTTP to an OpenAI-compatible engine (vLLM, TGI, Ollama, llama.cpp's server, TEI,
another `qa serve`), shared by the remote generator and the remote embedder.

One bounded connection pool per engine; connect and read timeouts from the
settings. A request is retried with backoff only while no byte of its reply has
arrived (refused, reset before the reply, 429/502/503): a streamed answer already
passed on is never generated twice. Failures become the `UpstreamError` family,
whose details name the engine by host and never carry the key.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import SecretStr

from qa.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from qa.settings import Settings

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 502, 503, 504})
_MAX_BACKOFF_S = 10.0
_PROBE_TIMEOUT_S = 2.0


def base_url(url: str) -> str:
    """The OpenAI base URL, with /v1 added to a bare host (what people paste)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UpstreamError(f"engine URL {url!r} is not an http(s) URL")
    path = parsed.path.rstrip("/") or "/v1"
    return str(parsed.copy_with(path=path, query=None, fragment=None))


class EngineClient:
    def __init__(
        self,
        url: str,
        *,
        role: str,
        key: SecretStr | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        retries: int,
        max_connections: int,
    ) -> None:
        self.url = base_url(url)
        parsed = httpx.URL(self.url)
        # The host and port only: a URL may carry user:password, which is a secret too.
        self.host = parsed.host + (f":{parsed.port}" if parsed.port else "")
        self.where = f"the {role} engine at {self.host}"
        self._key = key
        self._retries = retries
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    @classmethod
    def configured(
        cls, url: str, role: str, key: SecretStr | None, settings: Settings
    ) -> EngineClient:
        return cls(
            url,
            role=role,
            key=key,
            connect_timeout_s=settings.remote_connect_timeout_s,
            read_timeout_s=settings.remote_read_timeout_s,
            retries=settings.remote_retries,
            max_connections=settings.remote_max_connections,
        )

    def close(self) -> None:
        self._client.close()

    def post_json(self, path: str, body: dict[str, Any], *, retries: int | None = None) -> Any:
        """One JSON request and reply; safe to retry since the reply is all or nothing.
        `retries=0` where the caller has a better retry than this engine: another one."""
        with self.open_stream(path, body, retries=retries) as response:
            try:
                response.read()
            except httpx.TimeoutException:
                raise self.timed_out() from None
            except httpx.TransportError as exc:
                raise self.broken(exc, "before its reply was complete") from None
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"{self.where} sent a reply that is not JSON") from None

    @contextlib.contextmanager
    def open_stream(
        self, path: str, body: dict[str, Any], *, retries: int | None = None
    ) -> Iterator[httpx.Response]:
        """The response once its status line says 200, its body unread. Closing the
        context closes the connection, which tells the engine to stop generating."""
        retries = self._retries if retries is None else retries
        attempt = 0
        while True:
            wait: float | None = None
            try:
                request = self._client.build_request("POST", path, json=body)
                response = self._client.send(request, stream=True)
            except httpx.ConnectTimeout:
                failure: UpstreamError = UpstreamUnavailableError(
                    f"{self.where} did not accept a connection in time"
                )
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                failure = UpstreamUnavailableError(f"{self.where} is unreachable: {_why(exc)}")
            except httpx.TimeoutException:
                raise self.timed_out() from None
            except httpx.TransportError as exc:
                failure = UpstreamUnavailableError(f"{self.where} is unreachable: {_why(exc)}")
            else:
                if response.status_code == 200:
                    try:
                        yield response
                    finally:
                        response.close()
                    return
                failure = self._refusal(response)
                if response.status_code not in _RETRY_STATUS:
                    raise failure
                wait = _retry_after(response)
            if attempt >= retries:
                tries = f" (tried {attempt + 1} times)" if attempt else ""
                raise type(failure)(failure.detail + tries)
            delay = min(wait if wait is not None else 0.5 * 2**attempt, _MAX_BACKOFF_S)
            log.info("%s: %s; retrying in %.1f s", self.where, failure.detail, delay)
            time.sleep(delay)
            attempt += 1

    def _refusal(self, response: httpx.Response) -> UpstreamError:
        """An error status as a typed error, with the engine's own message (scrubbed)."""
        try:
            message = self.scrub(response.read().decode("utf-8", "replace"))[:300]
        except httpx.TransportError:
            message = ""
        finally:
            response.close()
        status = response.status_code
        said = f": {message}" if message else ""
        if status in (401, 403):
            return UpstreamError(f"{self.where} refused the API key (HTTP {status}){said}")
        if status in (429, 503):
            return UpstreamUnavailableError(f"{self.where} is overloaded (HTTP {status}){said}")
        return UpstreamError(f"{self.where} answered HTTP {status}{said}")

    def scrub(self, text: str) -> str:
        """Engines echo parts of a refused request; never let the key out through them."""
        if self._key is not None and self._key.get_secret_value():
            text = text.replace(self._key.get_secret_value(), "[key]")
        return text

    def timed_out(self) -> UpstreamTimeoutError:
        read_s = self._client.timeout.read
        return UpstreamTimeoutError(f"{self.where} sent nothing for {read_s:g} s")

    def broken(self, exc: Exception, when: str) -> UpstreamError:
        return UpstreamError(f"the connection to {self.where} broke {when}: {_why(exc)}")

    def probe(self) -> str | None:
        """None when the engine lists its models (GET /models) within a short timeout,
        else why not: what /readyz reports, without waiting for a slow engine."""
        try:
            response = self._client.get("/models", timeout=_PROBE_TIMEOUT_S)
        except httpx.TimeoutException:
            return f"{self.where} did not answer within {_PROBE_TIMEOUT_S:g} s"
        except httpx.TransportError as exc:
            return f"{self.where} is unreachable: {_why(exc)}"
        if response.status_code != 200:
            return f"{self.where} answered GET /models with HTTP {response.status_code}"
        return None


def _why(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
