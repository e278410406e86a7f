"""Liveness and readiness. /readyz lists the store and asks each remote engine for its
models, blocking calls: a plain `def` route, run in the thread pool."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from qa.api.deps import StateDep
from qa.api.problems import problem
from qa.models.remote_client import EngineClient
from qa.models.remote_embedder import RemoteEmbedder
from qa.models.remote_generator import RemoteGenerator

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
    ready: dict[str, object] = {
        "status": "ready",
        "generator": state.settings.generator_model or state.settings.generator,
        "collections": len(state.runtime.store.names()),
    }
    # A remote engine that is down leaves the service ready: search still works, and
    # every replica shares the engine, so failing here would take them all out of a
    # load balancer. It is reported instead, and answers get 503 until it is back.
    engines = {}
    generator = state.runtime.generator()
    if isinstance(generator, RemoteGenerator):
        engines["generator"] = _engine([generator.client], generator.name)
    if state.settings.embedder_url:
        embedder = state.runtime.embedder("")
        if isinstance(embedder, RemoteEmbedder):
            engines["embedder"] = _engine(embedder.clients, state.settings.embedder_model or "")
    if engines:
        ready["engines"] = engines
    return ready


def _engine(clients: Sequence[EngineClient], model: str) -> dict[str, object]:
    """Replicas (several embedder URLs) are one engine, reachable while any of them is."""
    whys = [why for client in clients if (why := client.probe()) is not None]
    report: dict[str, object] = {
        "model": model,
        "engine": ", ".join(client.host for client in clients),
        "reachable": len(whys) < len(clients),
    }
    if whys:
        report["detail"] = "; ".join(whys)
    return report
