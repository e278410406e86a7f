"""API keys on every /v1 route: who is asking, and may they touch this collection.

With no active key in the catalogue the service runs open (allowed on loopback only,
which `qa serve` enforces); as soon as one key exists, every /v1 request needs one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.api.deps import StateDep
from qa.catalogue import ApiKey, Role
from qa.errors import ForbiddenError, UnauthorizedError


def current_key(request: Request, state: StateDep) -> ApiKey | None:
    """The caller's key, or None when the service runs open. Cached per request by
    FastAPI, so a route and its router may both ask for it.

    A key that is sent is always checked, open or not: a revoked one gets 401 even
    after the last active key is gone and the service has fallen back to open mode."""
    header = request.headers.get("authorization")
    if header is None:
        if state.open_allowed and not state.catalogue.has_active_keys():
            return None
        raise UnauthorizedError("this route needs an API key: send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("the Authorization header must read 'Bearer <key>'")
    key = state.catalogue.authenticate(token.strip())
    if key is None:
        raise UnauthorizedError("the API key is unknown or has been revoked")
    request.state.key = key
    return key


KeyDep = Annotated[ApiKey | None, Depends(current_key)]


def authorize(key: ApiKey | None, collection: str | None, role: Role = "reader") -> None:
    """Raise 403 unless the key may act with `role` on `collection` (None: on the
    service as a whole, e.g. creating a collection). An open service allows all."""
    if key is None:
        return
    if not key.at_least(role):
        raise ForbiddenError(f"key {key.id!r} has role {key.role!r}; this needs {role!r}")
    if collection is not None and not key.allows(collection):
        raise ForbiddenError(f"key {key.id!r} may not use collection {collection!r}")


def visible(key: ApiKey | None, collections: list[str]) -> list[str]:
    return [c for c in collections if key is None or key.allows(c)]
