"""Canary vs stable on live traffic, and the guards that judge it (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from job_store.accuracy import ScoreRow
from job_store.rollouts import FinishedJob
from operation_server.rollout.policy import Guards


class AccuracyStats(BaseModel):
    """Online accuracy of one arm's forecasts, from the actuals posted for their series."""

    scored_points: int
    mae: float | None
    mase: float | None = Field(description="Mean |error| / the series' seasonal naive MAE (its history).")
    coverage: dict[str, float] = Field(description="Share of scored points inside the band, by level.")


class ArmStats(BaseModel):
    version: str | None
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    accuracy: AccuracyStats | None = None


class ShadowStats(BaseModel):
    version: str | None
    requests: int
    errors: int
    mean_abs_diff: float | None
    max_abs_diff: float | None
    accuracy: AccuracyStats | None = None


class PairedAccuracy(BaseModel):
    """Canary against stable on the points both scored: the accuracy guard's figures."""

    points: int
    canary_mase: float | None
    stable_mase: float | None
    ratio: float | None


class RolloutReport(BaseModel):
    model: str
    revision: int
    stable: ArmStats
    canary: ArmStats
    shadow: ShadowStats
    paired_accuracy: PairedAccuracy | None = None
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


def accuracy_stats(rows: Sequence[ScoreRow], version: str | None, arms: Sequence[str]) -> AccuracyStats:
    """Scored points, MAE, MASE and coverage per level of ``version``'s forecasts on ``arms``."""
    selected = [r for r in rows if r.version == version and r.arm in arms]
    scaled = [r.scaled_error for r in selected if r.scaled_error is not None]
    levels = sorted({level for r in selected for level in r.levels}, key=float)
    coverage = {}
    for level in levels:
        judged = [r for r in selected if level in r.levels]
        coverage[level] = sum(level in r.covered for r in judged) / len(judged)
    return AccuracyStats(
        scored_points=len(selected),
        mae=float(np.mean([r.abs_error for r in selected])) if selected else None,
        mase=float(np.mean(scaled)) if scaled else None,
        coverage=coverage,
    )


def paired_accuracy(rows: Sequence[ScoreRow], stable: str, canary: str) -> PairedAccuracy:
    """The canary's MASE (its own and its shadow forecasts) against stable's, on the (series, date)
    points both scored; each side's forecasts of one point are averaged first."""
    sides: dict[str, dict[tuple[str, object], list[float]]] = {"stable": {}, "canary": {}}
    for row in rows:
        if row.scaled_error is None:
            continue
        if row.version == stable and row.arm == "stable":
            side = "stable"
        elif row.version == canary and row.arm in ("canary", "shadow"):
            side = "canary"
        else:
            continue
        sides[side].setdefault((row.series_id, row.at), []).append(row.scaled_error)
    common = sides["stable"].keys() & sides["canary"].keys()
    if not common:
        return PairedAccuracy(points=0, canary_mase=None, stable_mase=None, ratio=None)
    canary_mase = float(np.mean([np.mean(sides["canary"][key]) for key in common]))
    stable_mase = float(np.mean([np.mean(sides["stable"][key]) for key in common]))
    ratio = canary_mase / stable_mase if stable_mase > 0 else None
    return PairedAccuracy(points=len(common), canary_mase=canary_mase, stable_mase=stable_mase, ratio=ratio)


def accuracy_verdict(paired: PairedAccuracy | None, guards: Guards) -> str | None:
    """Why the canary forecasts too badly to keep, or None while it passes (or too few points)."""
    if not guards.enabled or guards.max_mase_ratio is None or paired is None or paired.ratio is None:
        return None
    if paired.points < guards.min_scored_points or paired.ratio <= guards.max_mase_ratio:
        return None
    return (
        f"canary MASE {paired.canary_mase:.3f} exceeds {guards.max_mase_ratio:g}x stable's "
        f"{paired.stable_mase:.3f} (ratio {paired.ratio:.2f}) on {paired.points} points both scored"
    )


def evaluate_guards(
    stable: ArmStats, canary: ArmStats, guards: Guards, paired: PairedAccuracy | None = None
) -> str | None:
    """Why the canary must be rolled back, or None while it passes (or has too little traffic)."""
    verdict = accuracy_verdict(paired, guards)
    if verdict is not None:
        return verdict
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
