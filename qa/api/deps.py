"""Typed dependencies: routes ask for what they need, the app state provides it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.api.state import AppState


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.qa
    return state


StateDep = Annotated[AppState, Depends(get_state)]
