"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
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
        checks["triton"] = f"not ready at {state.settings.triton_grpc_url}"
    else:
        checks["triton"] = "ok"
        state.catalog.refresh()
        ready = [m for m in state.catalog.models() if state.catalog.ready_versions(m)]
        checks["models"] = f"ok: {', '.join(ready)}" if ready else "no model READY in Triton"
    return checks


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """200 when Redis, the database, Triton and at least one model are ready; else 503 naming what is not."""
    checks = await asyncio.to_thread(_check_dependencies, state)
    if "models" not in checks:
        checks["models"] = "unknown (Triton not ready)"
    missing = sorted(name for name, status in checks.items() if not status.startswith("ok"))
    body = {"status": "ready" if not missing else "not ready", "missing": missing, "checks": checks}
    return JSONResponse(body, status_code=200 if not missing else 503)
