"""Liveness and readiness. /readyz lists the store, a blocking call: a plain `def`
route, run in the thread pool."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from qa.api.deps import StateDep
from qa.api.problems import problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers.")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: models and indexes loaded.", response_model=None)
def readyz(state: StateDep) -> dict[str, object] | JSONResponse:
    if state.load_error:
        # The reason names model files and folders; the log has it.
        return problem(503, "Not ready", "loading models failed; see the server log")
    if not state.ready.is_set():
        return problem(503, "Not ready", "models are still loading")
    return {
        "status": "ready",
        "generator": state.settings.generator,
        "collections": len(state.runtime.store.names()),
    }
