"""Durable rollout policies and their audit trail; the live-traffic rows a rollout report reads.

Every change goes through :meth:`RolloutStore.change`, which locks the policy row, checks the
expected revision (so two writers, or the guard and an operator, cannot both act on one state),
writes the new state and appends an audit row in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from job_store.jobs import utcnow
from job_store.models import Job, RolloutAudit, RolloutPolicy, ShadowResult

POLICY_FIELDS = ("stable", "canary", "canary_weight", "pinnable", "shadow_share", "guards")


def policy_state(policy: RolloutPolicy | None) -> dict[str, Any] | None:
    """The audited fields of ``policy`` as plain JSON values."""
    if policy is None:
        return None
    return {name: getattr(policy, name) for name in POLICY_FIELDS} | {"revision": policy.revision}


@dataclass(frozen=True)
class FinishedJob:
    """One finished job of a model, as the rollout report needs it."""

    arm: str
    version: str
    status: str
    latency_s: float
    error_code: str | None


class RevisionConflict(Exception):
    """The policy changed since the caller read it."""


class RolloutStore:
    """Read and change rollout policies; read the traffic they produced."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, model: str) -> RolloutPolicy | None:
        with self._sessions() as session:
            return session.get(RolloutPolicy, model)

    def all(self) -> list[RolloutPolicy]:
        with self._sessions() as session:
            return list(session.scalars(select(RolloutPolicy).order_by(RolloutPolicy.model)))

    def change(
        self,
        model: str,
        state: dict[str, Any],
        *,
        action: str,
        actor: str,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> RolloutPolicy:
        """Write ``state`` as the model's policy and audit it; RevisionConflict on a stale revision."""
        with self._sessions.begin() as session:
            current = session.execute(
                select(RolloutPolicy).where(RolloutPolicy.model == model).with_for_update()
            ).scalar_one_or_none()
            if expected_revision is not None and (current.revision if current else 0) != expected_revision:
                raise RevisionConflict(f"rollout policy of {model!r} changed meanwhile; read it again")
            before = policy_state(current)
            now = utcnow()
            if current is None:
                current = RolloutPolicy(model=model, revision=0, updated_by=actor)
                session.add(current)
            canary_changed = current.canary != state.get("canary")
            for name in POLICY_FIELDS:
                setattr(current, name, state.get(name, getattr(current, name)))
            if canary_changed:
                current.canary_since = now if current.canary else None
            current.revision = (current.revision or 0) + 1
            current.updated_at = now
            current.updated_by = actor
            session.flush()
            session.add(
                RolloutAudit(
                    model=model,
                    action=action,
                    actor=actor,
                    before=before,
                    after=policy_state(current),
                    reason=reason,
                    at=now,
                )
            )
        return current

    def audit(self, model: str, limit: int = 50) -> list[RolloutAudit]:
        """Newest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(RolloutAudit)
                .where(RolloutAudit.model == model)
                .order_by(RolloutAudit.id.desc())
                .limit(limit)
            )
            return list(rows)

    def finished_jobs(self, model: str, since: datetime) -> list[FinishedJob]:
        """Jobs of ``model`` submitted since ``since`` that reached a final state."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    Job.arm, Job.version, Job.status, Job.created_at, Job.finished_at, Job.error_code
                ).where(
                    Job.model == model,
                    Job.created_at >= since,
                    Job.status.in_(("succeeded", "failed")),
                    Job.finished_at.is_not(None),
                )
            )
            return [
                FinishedJob(
                    arm=arm,
                    version=version,
                    status=status,
                    latency_s=max(0.0, (finished - created).total_seconds()),
                    error_code=code,
                )
                for arm, version, status, created, finished, code in rows
                if finished is not None
            ]

    def shadow_results(self, model: str, version: str, since: datetime) -> list[ShadowResult]:
        with self._sessions() as session:
            rows = session.scalars(
                select(ShadowResult).where(
                    ShadowResult.model == model,
                    ShadowResult.version == version,
                    ShadowResult.created_at >= since,
                )
            )
            return list(rows)
