"""Rollout operations (set, promote, rollback), the policy cache, and the background loop
that keeps Triton in line with the policies and rolls back canaries that trip a guard."""

from __future__ import annotations

import logging
import threading
import time

from hybrid_core.errors import Conflict, HybridError, InvalidInput
from job_store.accuracy import AccuracyStore
from job_store.jobs import JobStore
from job_store.models import RolloutPolicy
from job_store.rollouts import RevisionConflict, RolloutStore
from operation_server.catalog import ModelCatalog
from operation_server.rollout.policy import RolloutSpec, RolloutView, spec_of
from operation_server.rollout.report import (
    RolloutReport,
    accuracy_stats,
    arm_stats,
    evaluate_guards,
    paired_accuracy,
    shadow_stats,
)
from operation_server.rollout.triton_sync import (
    VersionStager,
    ensure_on_every_replica,
    reconcile_every_replica,
)

logger = logging.getLogger(__name__)

POLICY_CACHE_TTL_S = 0.5
"""A policy written by another API process takes effect here within this long (plus one read)."""
LOOP_INTERVAL_S = 1.0


class RolloutService:
    """The one place that changes rollout policies and makes Triton follow them."""

    def __init__(
        self,
        store: RolloutStore,
        jobs: JobStore,
        accuracy: AccuracyStore,
        catalog: ModelCatalog,
        stager: VersionStager,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.accuracy = accuracy
        self.catalog = catalog
        self.stager = stager
        self._cache: dict[str, tuple[float, RolloutPolicy | None]] = {}
        self._refreshing: set[str] = set()
        self._forgotten = 0
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------

    def policy(self, model: str) -> RolloutPolicy | None:
        """The model's policy, at most POLICY_CACHE_TTL_S old (plus one database read).

        One request thread reads an expired policy again; the others keep answering with the
        cached one meanwhile, instead of every thread that finds it expired reading the database.
        """
        now = time.monotonic()
        with self._lock:
            hit, policy = self._cached(model, now)
            if hit:
                return policy
            self._refreshing.add(model)
            forgotten = self._forgotten
        try:
            policy = self.store.get(model)
        finally:
            with self._lock:
                self._refreshing.discard(model)
        with self._lock:
            if forgotten == self._forgotten:  # a write meanwhile makes this read stale: not cached
                self._cache[model] = (now, policy)
        return policy

    def cached_policy(self, model: str) -> tuple[bool, RolloutPolicy | None]:
        """``(True, policy)`` when :meth:`policy` would answer without reading the database, else
        ``(False, None)``: lets the event loop resolve a request without blocking."""
        with self._lock:
            return self._cached(model, time.monotonic())

    def _cached(self, model: str, now: float) -> tuple[bool, RolloutPolicy | None]:
        cached = self._cache.get(model)
        if cached is not None and (now - cached[0] < POLICY_CACHE_TTL_S or model in self._refreshing):
            return True, cached[1]
        return False, None

    def _forget(self, model: str) -> None:
        with self._lock:
            self._cache.pop(model, None)
            self._forgotten += 1

    def view(self, model: str) -> RolloutView:
        """The policy as the API shows it (revision 0: none written, newest ready version serves)."""
        versions = self.catalog.versions(model)
        ready = sorted(self.catalog.ready_versions(model), key=int)
        policy = self.store.get(model)
        if policy is None:
            stable = ready[-1] if ready else versions[-1]
            return RolloutView(
                model=model,
                revision=0,
                stable=stable,
                ready_versions=ready,
                replicas=self.catalog.replica_versions(model),
            )
        return RolloutView(
            model=model,
            revision=policy.revision,
            canary_since=policy.canary_since,
            updated_at=policy.updated_at,
            updated_by=policy.updated_by,
            ready_versions=ready,
            replicas=self.catalog.replica_versions(model),
            **spec_of(policy).model_dump(),
        )

    # -- changing ------------------------------------------------------------------------

    def _validate(self, model: str, spec: RolloutSpec) -> None:
        self.catalog.params(model, spec.stable)
        if spec.canary is not None:
            self.catalog.params(model, spec.canary)
            if spec.canary == spec.stable:
                raise InvalidInput("canary must differ from stable", field="canary")
        for version in spec.pinnable:
            self.catalog.params(model, version)
        if spec.canary is None and spec.canary_weight > 0:
            raise InvalidInput("canary_weight needs a canary version", field="canary_weight")

    def _apply(
        self,
        model: str,
        spec: RolloutSpec,
        *,
        action: str,
        actor: str,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> RolloutView:
        self._validate(model, spec)
        current = self.store.get(model)
        # Load what the new policy needs before it takes effect (keep what is loaded now),
        # so a version that fails to load is refused while the old policy still serves.
        keep = spec_of(current).loaded_versions() if current else set(self.catalog.ready_versions(model))
        ensure_on_every_replica(self.catalog.triton, self.stager, model, spec.loaded_versions() | keep)
        try:
            self.store.change(
                model,
                spec.model_dump(mode="json"),
                action=action,
                actor=actor,
                reason=reason,
                expected_revision=expected_revision,
            )
        except RevisionConflict as exc:
            raise Conflict(str(exc), field="revision") from exc
        finally:
            self._forget(model)
        self.reconcile(model)
        self.catalog.refresh()
        return self.view(model)

    def set(self, model: str, spec: RolloutSpec, actor: str) -> RolloutView:
        """Write a whole policy (starting, re-weighting or ending a canary)."""
        action = "start_canary" if spec.canary else "set"
        return self._apply(model, spec, action=action, actor=actor)

    def promote(self, model: str, actor: str) -> RolloutView:
        """The canary becomes stable; the old stable version is unloaded once drained."""
        policy = self._require_canary(model)
        spec = spec_of(policy)
        promoted = spec.model_copy(
            update={
                "stable": spec.canary,
                "canary": None,
                "canary_weight": 0.0,
                "shadow_share": 0.0,
                "pinnable": [v for v in spec.pinnable if v != spec.canary],
            }
        )
        return self._apply(model, promoted, action="promote", actor=actor, expected_revision=policy.revision)

    def rollback(
        self, model: str, actor: str, reason: str | None = None, *, action: str = "rollback"
    ) -> RolloutView:
        """Traffic back to stable; the canary is unloaded once drained."""
        policy = self._require_canary(model)
        spec = spec_of(policy)
        back = spec.model_copy(update={"canary": None, "canary_weight": 0.0, "shadow_share": 0.0})
        return self._apply(
            model, back, action=action, actor=actor, reason=reason, expected_revision=policy.revision
        )

    def _require_canary(self, model: str) -> RolloutPolicy:
        self.catalog.versions(model)
        policy = self.store.get(model)
        if policy is None or policy.canary is None:
            raise Conflict(f"model {model!r} has no canary in its rollout policy", field="canary")
        return policy

    # -- keeping Triton in line, and guarding ---------------------------------------------

    def reconcile(self, model: str) -> bool:
        """Load/unload so every healthy replica holds the policy's versions plus those of unfinished jobs."""
        policy = self.store.get(model)
        if policy is None:
            return False
        wanted = spec_of(policy).loaded_versions() | self.jobs.active_versions(model)
        wanted &= set(self.catalog.versions(model))
        return reconcile_every_replica(self.catalog.triton, self.stager, model, wanted)

    def report(self, model: str, *, accuracy: bool = True) -> RolloutReport:
        """Canary vs stable since the canary started (or since the policy's last change without one).

        ``accuracy``: also score the arms from the actuals posted since (the guard loop skips it
        unless an accuracy guard is set).
        """
        policy = self.store.get(model)
        if policy is None:
            raise Conflict(f"model {model!r} has no rollout policy", field="model")
        since = policy.canary_since or policy.updated_at
        jobs = self.store.finished_jobs(model, since)
        stable = arm_stats(jobs, "stable", policy.stable)
        canary = arm_stats(jobs, "canary", policy.canary)
        shadows = self.store.shadow_results(model, policy.canary, since) if policy.canary else []
        shadow = shadow_stats(
            policy.canary,
            [s.mean_abs_diff for s in shadows],
            sum(1 for s in shadows if s.error_code is not None),
        )
        paired = None
        if accuracy:
            versions = [v for v in (policy.stable, policy.canary) if v]
            rows = self.accuracy.scores(model, versions, since)
            stable.accuracy = accuracy_stats(rows, policy.stable, ["stable"])
            if policy.canary:
                canary.accuracy = accuracy_stats(rows, policy.canary, ["canary"])
                shadow.accuracy = accuracy_stats(rows, policy.canary, ["shadow"])
                paired = paired_accuracy(rows, policy.stable, policy.canary)
        guards = spec_of(policy).guards
        verdict = evaluate_guards(stable, canary, guards, paired) if policy.canary else None
        return RolloutReport(
            model=model,
            revision=policy.revision,
            stable=stable,
            canary=canary,
            shadow=shadow,
            paired_accuracy=paired,
            guard_verdict=verdict,
        )

    def guard(self, model: str) -> str | None:
        """Roll the canary back when a guard trips; return the reason when it did."""
        policy = self.store.get(model)
        if policy is None or policy.canary is None:
            return None
        guards = spec_of(policy).guards
        verdict = self.report(model, accuracy=guards.max_mase_ratio is not None).guard_verdict
        if verdict is None:
            return None
        logger.warning("guard tripped for %s canary %s: %s", model, policy.canary, verdict)
        try:
            self.rollback(model, actor="guard", reason=verdict, action="auto_rollback")
        except Conflict:
            return None  # someone else changed the policy meanwhile
        return verdict

    def tick(self) -> None:
        """One pass of the background loop over every model with a policy."""
        for policy in self.store.all():
            try:
                self.guard(policy.model)
                self.reconcile(policy.model)
            except HybridError as exc:
                logger.warning("rollout upkeep of %s: %s", policy.model, exc.message)
