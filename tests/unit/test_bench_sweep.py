"""The Triton config sweep's pure parts: the grid, the choice, the derived config and the written one."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks.stats import summarize
from benchmarks.sweep import BatchingPoint, LoadLevel, PointOutcome, SweepGrid, apply_point, choose_best
from benchmarks.sweep_cli import _preferred, best_config_text
from export_scripts.triton_config import (
    TritonModelSpec,
    build_model_config,
    parse_model_config,
    write_model_config,
)


def outcome(point: BatchingPoint, *loads: tuple[float, float]) -> PointOutcome:
    """A point measured at concurrency 1, 2, ... with (req/s, p99 ms) each."""
    levels = []
    for index, (rps, p99_ms) in enumerate(loads, start=1):
        latencies = [p99_ms / 1000] * 10
        summary = summarize(latencies, errors=0, elapsed_s=10 / rps, series_per_request=1)
        levels.append(LoadLevel(index, summary, None))
    return PointOutcome(point, levels)


def test_grid_points_are_the_cartesian_product_in_order() -> None:
    grid = SweepGrid(instance_counts=(1, 2), preferred_batch_sizes=((), (8,)), max_queue_delays_us=(0, 500))
    points = grid.points()
    assert len(points) == 8
    assert points[0] == BatchingPoint(1, (), 0)
    assert points[-1] == BatchingPoint(2, (8,), 500)


def test_choose_best_takes_highest_top_load_throughput_within_p99_budget() -> None:
    fast_but_slow_tail = outcome(BatchingPoint(1, (), 0), (100, 5), (900, 400))
    fast = outcome(BatchingPoint(2, (), 0), (100, 5), (800, 90))
    slow = outcome(BatchingPoint(1, (16,), 0), (100, 5), (500, 60))
    best = choose_best([fast_but_slow_tail, fast, slow], p99_budget_ms=250)
    assert best is fast


def test_choose_best_takes_lowest_worst_p99_when_none_is_within_budget() -> None:
    a = outcome(BatchingPoint(1, (), 0), (900, 600))
    b = outcome(BatchingPoint(2, (), 0), (500, 300))
    assert choose_best([a, b], p99_budget_ms=100) is b
    assert choose_best([], p99_budget_ms=100) is None


def test_apply_point_sets_instances_and_batching_and_keeps_the_queue_policy(tmp_path: Path) -> None:
    spec = TritonModelSpec("m", "pytorch_libtorch", (1,), horizon=4, instance_kind="KIND_CPU")
    path = tmp_path / "config.pbtxt"
    write_model_config(path, build_model_config(spec))
    apply_point(path, BatchingPoint(3, (), 250))
    config = parse_model_config(path.read_text())
    assert config.instance_group[0].count == 3
    assert list(config.dynamic_batching.preferred_batch_size) == []
    assert config.dynamic_batching.max_queue_delay_microseconds == 250
    assert config.dynamic_batching.default_queue_policy.max_queue_size == spec.max_queue_size


def test_best_config_is_the_canonical_config_with_the_chosen_settings_on_cpu(tmp_path: Path) -> None:
    spec = TritonModelSpec("m", "pytorch_libtorch", (1, 2), horizon=24)
    (tmp_path / "m").mkdir()
    write_model_config(tmp_path / "m" / "config.pbtxt", build_model_config(spec))
    config = parse_model_config(best_config_text(tmp_path, "m", BatchingPoint(2, (32, 64), 500)))
    assert config.instance_group[0].count == 2
    assert config.instance_group[0].kind == config.instance_group[0].KIND_CPU
    assert list(config.dynamic_batching.preferred_batch_size) == [32, 64]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert list(config.version_policy.specific.versions) == [1, 2]
    assert config.output[0].dims == [24]


def test_preferred_option_parses_lists_and_none() -> None:
    assert _preferred("none;16,32") == ((), (16, 32))
    with pytest.raises(argparse.ArgumentTypeError):
        _preferred("-1")
