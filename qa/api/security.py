"""API keys on every /v1 route: who is asking, and may they touch this collection.

Until the first key is created the service runs open (allowed on loopback only, which
`qa serve` enforces); from then on every /v1 request needs one, also once every key has
been revoked: revoking the last key locks the service rather than reopening it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request

from qa.api import audit
from qa.api.deps import StateDep
from qa.api.state import AppState
from qa.catalogue import ApiKey, Role
from qa.errors import ForbiddenError, UnauthorizedError


async def current_key(request: Request, state: StateDep) -> ApiKey | None:
    """The caller's key, or None when the service runs open. Cached per request by
    FastAPI, so a route and its router may both ask for it. Checked on the event loop
    where the catalogue reads in microseconds (SQLite), else in a worker thread: a hop
    to a thread cost 0.3-0.5 ms of a 4 ms search."""
    return await checked(key_of, request, state)


async def checked(
    check: Callable[[Request, AppState], ApiKey | None], request: Request, state: AppState
) -> ApiKey | None:
    """A key check run on the event loop or in a worker thread, as the catalogue allows."""
    if state.catalogue.backend.reads_inline:
        return check(request, state)
    return await anyio.to_thread.run_sync(check, request, state)


def key_of(request: Request, state: AppState) -> ApiKey | None:
    """current_key's check, blocking on the catalogue.

    A key that is sent is always checked, open or not: a revoked or made-up one gets
    401 even on a service that has never had a key."""
    header = request.headers.get("authorization")
    if header is None:
        if running_open(state):
            return None
        raise UnauthorizedError("this route needs an API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("the Authorization header must read 'Bearer <key>'")
    key = state.catalogue.authenticate(token.strip())
    if key is None:
        raise UnauthorizedError("the API key is unknown or has been revoked")
    request.state.key = key
    audit.note_key(key)
    return key


KeyDep = Annotated[ApiKey | None, Depends(current_key)]


def running_open(state: AppState) -> bool:
    """Whether /v1 answers without a key: allowed on loopback only, and only while no
    key has ever been created. Blocking on the catalogue: off the event loop, unless its
    reads are brief there (`reads_inline`)."""
    return state.open_allowed and not state.catalogue.ever_had_keys()


def authorize(key: ApiKey | None, collection: str | None, role: Role = "reader") -> None:
    """Raise 403 unless the key may act with `role` on `collection` (None: on the
    service as a whole, e.g. creating a collection). An open service allows all."""
    if collection is not None:
        audit.note_collection(collection)
    if key is None:
        return
    if not key.at_least(role):
        raise ForbiddenError(f"key {key.id!r} has role {key.role!r}; this needs {role!r}")
    if collection is not None and not key.allows(collection):
        raise ForbiddenError(f"key {key.id!r} may not use collection {collection!r}")


def visible(key: ApiKey | None, collections: list[str]) -> list[str]:
    return [c for c in collections if key is None or key.allows(c)]
