"""FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from operation_server.state import ApiState


async def get_state(request: Request) -> ApiState:
    # async: FastAPI would otherwise run this trivial lookup in a worker thread on every request.
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(get_state)]
