"""Latency and throughput summaries of one measured run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between ranks; NaN when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class RunSummary:
    """One configuration at one concurrency (or one bulk job), as reported."""

    requests: int
    series: int
    errors: int
    elapsed_s: float
    rps: float
    series_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float


def summarize(
    latencies_s: Sequence[float], *, errors: int, elapsed_s: float, series_per_request: int
) -> RunSummary:
    """Successful requests' latency percentiles (ms) and rates over ``elapsed_s``."""
    count = len(latencies_s)
    rate = count / elapsed_s if elapsed_s > 0 else 0.0
    return RunSummary(
        requests=count,
        series=count * series_per_request,
        errors=errors,
        elapsed_s=elapsed_s,
        rps=rate,
        series_per_s=rate * series_per_request,
        p50_ms=percentile(latencies_s, 50) * 1000,
        p95_ms=percentile(latencies_s, 95) * 1000,
        p99_ms=percentile(latencies_s, 99) * 1000,
        mean_ms=(sum(latencies_s) / count * 1000) if count else math.nan,
    )
