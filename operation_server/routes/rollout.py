"""``/v1/models/{model}/rollout``: canary policy per model (reads open, writes need the admin token)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from operation_server.auth import AdminCaller, JobsCaller
from operation_server.deps import StateDep
from operation_server.errors import documented
from operation_server.rollout.policy import RolloutSpec, RolloutView
from operation_server.rollout.report import RolloutReport

router = APIRouter(
    prefix="/v1/models/{model}/rollout",
    tags=["rollout"],
    responses=documented(400, 401, 403, 404, 409, 413, 422, 503),
)


class AuditEntry(BaseModel):
    action: str
    actor: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


@router.get("", response_model=RolloutView)
def get_rollout(model: str, state: StateDep, _: JobsCaller) -> RolloutView:
    """The model's rollout policy (revision 0 when none was written yet)."""
    return state.rollout.view(model)


@router.put("", response_model=RolloutView)
def put_rollout(model: str, spec: RolloutSpec, state: StateDep, caller: AdminCaller) -> RolloutView:
    """Set the policy: loads the versions it needs in Triton first (409 if one fails to load)."""
    return state.rollout.set(model, spec, caller.name)


@router.post("/promote", response_model=RolloutView)
def promote(model: str, state: StateDep, caller: AdminCaller) -> RolloutView:
    """Make the canary the stable version; the old one is unloaded once its jobs are done."""
    return state.rollout.promote(model, caller.name)


@router.post("/rollback", response_model=RolloutView)
def rollback(model: str, state: StateDep, caller: AdminCaller) -> RolloutView:
    """Send all unpinned traffic back to stable and unload the canary once drained."""
    return state.rollout.rollback(model, caller.name, reason="operator rollback")


@router.get("/report", response_model=RolloutReport)
def report(model: str, state: StateDep, _: JobsCaller) -> RolloutReport:
    """Canary vs stable on live traffic since the canary started, with the guards' verdict."""
    return state.rollout.report(model)


@router.get("/audit", response_model=list[AuditEntry])
def audit(model: str, state: StateDep, _: JobsCaller) -> list[AuditEntry]:
    """Every change of the policy, newest first."""
    state.catalog.versions(model)
    return [
        AuditEntry(action=a.action, actor=a.actor, at=a.at, before=a.before, after=a.after, reason=a.reason)
        for a in state.rollout.store.audit(model)
    ]
