"""The FastAPI app factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from qa import __version__
from qa.api import openai, problems
from qa.api.audit import AuditLog, AuditMiddleware
from qa.api.deps import StateDep
from qa.api.headers import SecurityHeaders
from qa.api.limits import BodyLimit
from qa.api.loopback import LoopbackGuard
from qa.api.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from qa.api.routes import (
    ask,
    collections,
    conversations,
    documents,
    embeddings,
    health,
    jobs,
    page_images,
    search,
)
from qa.api.schemas import problem_responses
from qa.api.security import KeyDep, authorize, running_open
from qa.api.state import AppState
from qa.settings import Settings, get_settings

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent.parent / "web"


def create_app(
    settings: Settings | None = None, *, warm: bool = True, open_allowed: bool = True
) -> FastAPI:
    """warm=False skips loading models at start (tests of input handling need none).
    open_allowed=False (any bind but loopback): never serve /v1 without an API key."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState(settings, open_allowed=open_allowed)
        app.state.qa = state
        if running_open(state):
            log.warning(
                "no API key is configured: /v1 is open to anyone who can reach this "
                "loopback address (create one with `qa keys create`)"
            )
        elif not state.catalogue.has_active_keys():
            log.warning(
                "no active API key: /v1 refuses every request until one is created "
                "(`qa keys create`)"
            )
        state.worker.start()
        if warm:
            # Load in the background: /healthz answers at once, /readyz when done.
            threading.Thread(target=state.warm_up, name="warm-up", daemon=True).start()
        else:
            state.ready.set()
        try:
            yield
        finally:
            state.worker.stop()

    app = FastAPI(
        title="qa",
        version=__version__,
        description="Answers from your documents only, citing the passage behind every claim.",
        lifespan=lifespan,
    )
    problems.install(app)
    generated_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document = generated_openapi()
        document.setdefault("components", {}).setdefault("schemas", {}).update(
            documents.upload_schemas()
        )
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    # The problem statuses each router's routes may answer, declared in the OpenAPI document.
    keyed_body = (400, 401, 403, 404, 409, 413, 422, 503)
    for router, statuses in (
        (health.router, (503,)),
        (search.router, keyed_body),
        (ask.router, (*keyed_body, 504)),
        (collections.router, keyed_body),
        (conversations.router, keyed_body),
        (page_images.router, keyed_body),
        (documents.router, (*keyed_body, 415)),
        (jobs.router, (401, 403, 404, 422, 503)),
        (openai.router, (*keyed_body, 504)),
        (embeddings.router, keyed_body),
    ):
        app.include_router(router, responses=problem_responses(*statuses))
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get(
        "/metrics",
        summary="Prometheus metrics; once API keys exist, an admin key is needed.",
        tags=["health"],
        response_class=PlainTextResponse,
        responses=problem_responses(401, 403, 503),
    )
    def metrics(state: StateDep, key: KeyDep) -> Response:
        # Collection names and sizes are not for anonymous eyes once keys are in use. A
        # plain def: the exposition reads every manifest, off the event loop.
        authorize(key, None, "admin")
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)

    def current_state() -> AppState | None:
        return getattr(app.state, "qa", None)

    def current_metrics() -> Metrics | None:
        state = current_state()
        return state.metrics if state is not None else None

    def current_audit() -> AuditLog | None:
        state = current_state()
        return state.audit if state is not None else None

    # Innermost first. The guard's and the body limit's refusals are audited and
    # counted too, and every response gets the security headers.
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(LoopbackGuard, state=current_state, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(AuditMiddleware, audit=current_audit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=current_metrics)
    return app
