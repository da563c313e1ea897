"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from operation_server.deps import StateDep
from operation_server.state import ApiState

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


def _check_dependencies(state: ApiState) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {exc}"
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if not state.triton.is_server_ready():
        checks["triton"] = f"no replica ready of {', '.join(state.settings.triton_urls)}"
    else:
        checks["triton"] = "ok"
        state.catalog.refresh()
        ready = [m for m in state.catalog.models() if state.catalog.ready_versions(m)]
        checks["models"] = f"ok: {', '.join(ready)}" if ready else "no model READY in Triton"
    return checks


class Readiness(BaseModel):
    status: str = Field(description="ready or not ready")
    missing: list[str] = Field(description="The checks that failed")
    checks: dict[str, str] = Field(description="Each dependency's state")
    replicas: dict[str, str] = Field(
        description="Each Triton replica as the pool sees it (one out of the pool leaves the API ready)"
    )


def _replicas(state: ApiState) -> dict[str, str]:
    return {
        status.url: "ok" if status.healthy else f"out of the pool: {status.last_error or 'not answering'}"
        for status in state.triton.statuses()
    }


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready; missing names it."}},
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 when Redis, the database, Triton and at least one model are ready; else 503 naming what is not."""
    checks = await asyncio.to_thread(_check_dependencies, state)
    if "models" not in checks:
        checks["models"] = "unknown (Triton not ready)"
    missing = sorted(name for name, status in checks.items() if not status.startswith("ok"))
    body = {
        "status": "ready" if not missing else "not ready",
        "missing": missing,
        "checks": checks,
        "replicas": _replicas(state),
    }
    return JSONResponse(body, status_code=200 if not missing else 503)
