"""Canary vs stable on live traffic, and the guards that judge it (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from job_store.rollouts import FinishedJob
from operation_server.rollout.policy import Guards


class ArmStats(BaseModel):
    version: str | None
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None


class ShadowStats(BaseModel):
    version: str | None
    requests: int
    errors: int
    mean_abs_diff: float | None
    max_abs_diff: float | None


class RolloutReport(BaseModel):
    model: str
    revision: int
    stable: ArmStats
    canary: ArmStats
    shadow: ShadowStats
    guard_verdict: str | None


def arm_stats(jobs: Sequence[FinishedJob], arm: str, version: str | None) -> ArmStats:
    """Requests, errors and latency percentiles of one arm."""
    selected = [j for j in jobs if j.arm == arm and (version is None or j.version == version)]
    errors = sum(1 for j in selected if j.status == "failed")
    latencies_ms = np.array([j.latency_s * 1000 for j in selected])
    return ArmStats(
        version=version,
        requests=len(selected),
        errors=errors,
        error_rate=errors / len(selected) if selected else 0.0,
        p50_ms=float(np.percentile(latencies_ms, 50)) if selected else None,
        p99_ms=float(np.percentile(latencies_ms, 99)) if selected else None,
    )


def shadow_stats(version: str | None, diffs: Sequence[float | None], errors: int) -> ShadowStats:
    """How far the canary's shadow forecasts are from stable's answers to the same inputs."""
    values = [d for d in diffs if d is not None]
    return ShadowStats(
        version=version,
        requests=len(diffs),
        errors=errors,
        mean_abs_diff=float(np.mean(values)) if values else None,
        max_abs_diff=float(np.max(values)) if values else None,
    )


def evaluate_guards(stable: ArmStats, canary: ArmStats, guards: Guards) -> str | None:
    """Why the canary must be rolled back, or None while it passes (or has too little traffic)."""
    if not guards.enabled or canary.requests < guards.min_requests:
        return None
    delta = canary.error_rate - stable.error_rate
    if delta > guards.max_error_rate_delta:
        return (
            f"canary error rate {canary.error_rate:.1%} exceeds stable's {stable.error_rate:.1%} "
            f"by more than {guards.max_error_rate_delta:.1%} after {canary.requests} requests"
        )
    if (
        canary.p99_ms is not None
        and stable.p99_ms is not None
        and stable.requests >= guards.min_requests
        and canary.p99_ms > stable.p99_ms * guards.max_p99_ratio
    ):
        return (
            f"canary p99 {canary.p99_ms:.0f} ms exceeds {guards.max_p99_ratio:g}x stable's "
            f"{stable.p99_ms:.0f} ms after {canary.requests} requests"
        )
    return None
