"""Version resolution, in one place: an explicit version wins, else the model's rollout policy,
else the newest version READY in Triton."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hybrid_core.errors import ServiceUnavailable, VersionNotLoaded
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.schemas import Arm, ForecastRequest
from hybrid_core.series_codec import SeriesValues
from hybrid_core.version_params import VersionParams
from job_store.jobs import NewJob
from job_store.models import RolloutPolicy
from operation_server.array_body import ArrayJobOptions
from operation_server.catalog import ModelCatalog
from operation_server.rollout.policy import RolloutSpec, assign_arm, shadow_of, spec_of

if TYPE_CHECKING:
    from operation_server.state import ApiState


@dataclass(frozen=True)
class Resolution:
    version: str
    arm: Arm
    params: VersionParams
    shadow_version: str | None = None

    def new_job(
        self,
        job_id: str,
        request: ForecastRequest | ArrayJobOptions,
        series: Sequence[SeriesValues],
        spec: ForecastSpec,
        *,
        tenant: str,
        shadow: bool = True,
        idempotency: tuple[str, str] | None = None,
    ) -> NewJob:
        """The job record of ``series`` under ``request``'s options, resolved this way
        (``shadow=False``: no canary mirror; ``idempotency``: the client's key and the body's fingerprint)."""
        return NewJob(
            job_id=job_id,
            tenant=tenant,
            idempotency_key=idempotency[0] if idempotency else None,
            request_hash=idempotency[1] if idempotency else None,
            model=request.model,
            version=self.version,
            arm=self.arm,
            routing_key=request.routing_key,
            horizon=spec.horizon,
            series=series,
            spec=spec.to_json(),
            shadow_version=self.shadow_version if shadow else None,
        )


def resolve_version(
    catalog: ModelCatalog,
    model: str,
    version: str | None,
    *,
    routing_key: str | None = None,
    policy: RolloutSpec | None = None,
    rng: random.Random | None = None,
) -> Resolution:
    """Resolve the version a request runs on, and its arm.

    - ``version`` given (arm ``pinned``): it must be in the repository (404) and, when
      Triton's state is known, loaded there (409 saying how to make it available).
    - a rollout ``policy``: ``canary`` for its weight (sticky per ``routing_key``), else
      ``stable``; some stable jobs also get a shadow run on the canary.
    - otherwise (arm ``latest``): the newest version READY in Triton; while Triton cannot
      be reached, the last seen or newest repository version (the job waits for Triton).
    """
    repository = catalog.versions(model)
    ready = catalog.ready_versions(model)
    reachable = catalog.ready.reachable
    if version is not None:
        params = catalog.params(model, version)
        if reachable and version not in ready:
            raise VersionNotLoaded(
                f"model {model!r} version {version} is in the repository but not loaded in Triton; "
                f"make it available with a rollout policy that keeps it pinnable "
                f"(PUT /v1/models/{model}/rollout) or load it in Triton",
                field="version",
            )
        return Resolution(version=version, arm="pinned", params=params)
    if policy is not None:
        arm = assign_arm(model, policy, routing_key, rng)
        chosen = policy.canary if arm == "canary" and policy.canary else policy.stable
        return Resolution(
            version=chosen,
            arm=arm,
            params=catalog.params(model, chosen),
            shadow_version=shadow_of(policy, arm, rng),
        )
    if reachable:
        candidates = [v for v in repository if v in ready]
        if not candidates:
            raise ServiceUnavailable(f"no version of model {model!r} is loaded in Triton")
    else:
        # Triton unreachable: the last versions seen READY, else the repository's newest;
        # the job waits in the queue and its worker retries until Triton is back.
        candidates = [v for v in repository if v in ready] or repository
    newest = max(candidates, key=int)
    return Resolution(version=newest, arm="latest", params=catalog.params(model, newest))


def resolve_request(state: ApiState, request: ForecastRequest | ArrayJobOptions) -> Resolution:
    """Resolve a request's version under its model's current rollout policy (blocking: the policy
    is read again from the database when its cache expired)."""
    state.catalog.versions(request.model)  # an unknown model is a 404 before any policy read
    return resolve_under(state.catalog, request, state.rollout.policy(request.model))


def resolve_under(
    catalog: ModelCatalog, request: ForecastRequest | ArrayJobOptions, policy: RolloutPolicy | None
) -> Resolution:
    """Resolve a request's version under ``policy``, its model's rollout policy as read."""
    return resolve_version(
        catalog,
        request.model,
        request.version,
        routing_key=request.routing_key,
        policy=spec_of(policy) if policy is not None else None,
    )
