"""Percentiles and run summaries of the benchmark (pure functions)."""

from __future__ import annotations

import math

import pytest

from benchmarks.stats import percentile, summarize


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 99) == pytest.approx(3.97)


def test_percentile_returns_the_value_when_there_is_one() -> None:
    assert percentile([7.0], 99) == 7.0


def test_percentile_is_nan_when_nothing_was_measured() -> None:
    assert math.isnan(percentile([], 50))


def test_percentile_rejects_out_of_range_quantiles() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_reports_rates_and_milliseconds() -> None:
    summary = summarize([0.010, 0.020, 0.030, 0.040], errors=1, elapsed_s=2.0, series_per_request=3)
    assert summary.requests == 4
    assert summary.series == 12
    assert summary.errors == 1
    assert summary.rps == pytest.approx(2.0)
    assert summary.series_per_s == pytest.approx(6.0)
    assert summary.p50_ms == pytest.approx(25.0)
    assert summary.mean_ms == pytest.approx(25.0)


def test_summarize_gives_nan_latencies_when_every_request_failed() -> None:
    summary = summarize([], errors=5, elapsed_s=1.0, series_per_request=1)
    assert summary.rps == 0.0
    assert math.isnan(summary.p99_ms)
