"""The key an OpenAI client presents, which differs from the other /v1 routes in one
case: SDKs always send a bearer token, even to a service that needs none."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.api.deps import StateDep
from qa.api.security import checked, key_of, running_open
from qa.api.state import AppState
from qa.catalogue import ApiKey
from qa.errors import UnauthorizedError


async def openai_key(request: Request, state: StateDep) -> ApiKey | None:
    return await checked(_openai_key, request, state)


def _openai_key(request: Request, state: AppState) -> ApiKey | None:
    """The caller's key, as for every /v1 route, except on a service running open (no
    key exists): there a bearer token that is not a qa key is ignored, because OpenAI
    SDKs send one whatever happens (`api_key="unused"`) and cannot be told not to. A qa
    key (`qa_...`) is still checked, so a revoked one is refused as elsewhere."""
    try:
        return key_of(request, state)
    except UnauthorizedError:
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if running_open(state) and not token.startswith("qa_"):
            return None
        raise


OpenAIKeyDep = Annotated[ApiKey | None, Depends(openai_key)]
