"""Rollout policy schemas and the pure arm assignment (sticky by routing key)."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from job_store.models import RolloutPolicy

ArmName = Literal["stable", "canary"]


class Guards(BaseModel):
    """Automatic rollback rules, evaluated on live traffic since the canary started."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min_requests: int = Field(default=20, ge=1, description="Finished canary jobs before guards judge.")
    max_error_rate_delta: float = Field(
        default=0.05, ge=0, le=1, description="Roll back when canary error rate exceeds stable's by more."
    )
    max_p99_ratio: float = Field(
        default=3.0, gt=0, description="Roll back when canary p99 latency exceeds stable's times this."
    )
    max_mase_ratio: float | None = Field(
        default=None,
        gt=0,
        description="Roll back when the canary's MASE exceeds stable's times this, on points both scored "
        "(the canary's own or its shadow forecasts of the same series and dates); off when null.",
    )
    min_scored_points: int = Field(
        default=50, ge=1, description="Points both arms scored before the accuracy guard judges."
    )


class RolloutSpec(BaseModel):
    """Body of ``PUT /v1/models/{model}/rollout``."""

    model_config = ConfigDict(extra="forbid")

    stable: str = Field(description="Version that serves unpinned traffic by default.")
    canary: str | None = Field(default=None, description="Version under trial, or null.")
    canary_weight: float = Field(
        default=0.0, ge=0, le=1, description="Share of unpinned traffic to the canary."
    )
    pinnable: list[str] = Field(default_factory=list, description="Other versions kept loaded for pinning.")
    shadow_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of stable jobs mirrored to the canary (results stored only).",
    )
    guards: Guards = Field(default_factory=Guards)

    def loaded_versions(self) -> set[str]:
        """Versions Triton must hold for this policy."""
        versions = {self.stable, *self.pinnable}
        if self.canary:
            versions.add(self.canary)
        return versions


class RolloutView(RolloutSpec):
    """A model's rollout policy as the API shows it."""

    model: str
    revision: int = Field(description="0 when no policy was ever written (newest ready version serves).")
    canary_since: datetime | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    ready_versions: list[str] = Field(
        default_factory=list, description="Versions READY on every healthy Triton replica now."
    )
    replicas: dict[str, list[str] | None] = Field(
        default_factory=dict,
        description="Per Triton replica (gRPC host:port), its READY versions; null while it is out "
        "of the pool.",
    )


def spec_of(policy: RolloutPolicy) -> RolloutSpec:
    return RolloutSpec(
        stable=policy.stable,
        canary=policy.canary,
        canary_weight=policy.canary_weight,
        pinnable=list(policy.pinnable or []),
        shadow_share=policy.shadow_share,
        guards=Guards.model_validate(policy.guards or {}),
    )


def routing_bucket(model: str, routing_key: str) -> float:
    """A stable number in [0, 1) for ``routing_key``: the same key always lands in the same bucket."""
    digest = hashlib.sha256(f"{model}\x00{routing_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(
    model: str, spec: RolloutSpec, routing_key: str | None, rng: random.Random | None = None
) -> ArmName:
    """``canary`` for a ``canary_weight`` share of traffic: by key hash when a key is given, else at random.

    Raising the weight only moves keys from stable to canary, never back and forth.
    """
    if not spec.canary or spec.canary_weight <= 0:
        return "stable"
    draw = routing_bucket(model, routing_key) if routing_key is not None else (rng or random).random()
    return "canary" if draw < spec.canary_weight else "stable"


def shadow_of(spec: RolloutSpec, arm: ArmName, rng: random.Random | None = None) -> str | None:
    """The canary version to mirror a stable job to, for a ``shadow_share`` of stable jobs."""
    if arm != "stable" or not spec.canary or spec.shadow_share <= 0:
        return None
    return spec.canary if (rng or random).random() < spec.shadow_share else None
