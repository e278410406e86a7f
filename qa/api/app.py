"""The FastAPI app factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from qa import __version__
from qa.api import problems
from qa.api.limits import BodyLimit
from qa.api.routes import ask, health, search
from qa.api.state import AppState
from qa.settings import Settings, get_settings

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings | None = None, *, warm: bool = True) -> FastAPI:
    """warm=False skips loading models at start (tests of input handling need none)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState(settings)
        app.state.qa = state
        if warm:
            # Load in the background: /healthz answers at once, /readyz when done.
            threading.Thread(target=state.warm_up, name="warm-up", daemon=True).start()
        else:
            state.ready.set()
        yield

    app = FastAPI(
        title="qa",
        version=__version__,
        description="Answers from your documents only, citing the passage behind every claim.",
        lifespan=lifespan,
    )
    problems.install(app)
    for router in (health.router, search.router, ask.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
