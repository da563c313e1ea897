"""The benchmark's outputs: the summary line's exact shape, the JSON document, tables and plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks import report
from benchmarks.meter import LOADGEN, OTHER, Reading
from benchmarks.runner import BulkResult, Outcome, PointResult
from benchmarks.stats import summarize

CONFIGS = ("seed", "baseline", "hybrid", "sync", "triton", "triton-nobatch")
TRITON_CONFIGS = ("hybrid", "sync", "triton", "triton-nobatch")


def _reading(batch: float | None = None) -> Reading:
    return Reading(
        cpu_s={"api": 1.0, "worker": 2.0, LOADGEN: 0.5},
        peak_rss_mib={"worker": 150.0},
        triton_avg_batch=batch,
    )


def _outcome() -> Outcome:
    outcome = Outcome()
    for config in CONFIGS:
        for concurrency in (1, 16, 64):
            summary = summarize([0.01, 0.02], errors=0, elapsed_s=1.0, series_per_request=1)
            batch = 2.0 if config in TRITON_CONFIGS else None
            outcome.points.append(PointResult(config, concurrency, summary, _reading(batch)))
    outcome.bulk.append(BulkResult("hybrid", 10_000, 20.0, 500.0, _reading(120.0)))
    outcome.bulk.append(BulkResult("triton", 10_000, 10.0, 1000.0, _reading(126.0)))
    return outcome


def test_summary_has_exactly_the_documented_shape() -> None:
    summary = report.summary(_outcome())
    assert set(summary) == {*CONFIGS, "bulk"}
    for config in CONFIGS:
        assert set(summary[config]) == {"1", "16", "64"}
        for point in summary[config].values():
            assert set(point) == {"rps", "p50_ms", "p99_ms", "server_cpu_ms_per_req", "triton_avg_batch"}
            assert all(
                isinstance(point[k], float) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_req")
            )
            assert point["triton_avg_batch"] == (2.0 if config in TRITON_CONFIGS else None)
    assert summary["bulk"] == {"hybrid_series_per_s": 500.0, "triton_series_per_s": 1000.0}


def test_summary_is_one_json_line_without_nan() -> None:
    outcome = Outcome()
    failed = summarize([], errors=3, elapsed_s=1.0, series_per_request=1)
    outcome.points.append(PointResult("sync", 1, failed, _reading()))
    line = json.dumps(report.summary(outcome))
    assert "\n" not in line
    expected = {"rps": 0.0, "p50_ms": None, "p99_ms": None, "server_cpu_ms_per_req": None}
    assert json.loads(line) == {"sync": {"1": {**expected, "triton_avg_batch": None}}}


def test_summary_counts_server_cpu_per_request_without_the_load_generator_and_other() -> None:
    outcome = Outcome()
    summary = summarize([0.01] * 4, errors=0, elapsed_s=1.0, series_per_request=1)
    cpu = {"seed_api": 0.2, "seed_worker": 0.6, "redis": 0.2, LOADGEN: 5.0, OTHER: 7.0}
    reading = Reading(cpu_s=cpu, peak_rss_mib={"seed_worker": 300.0}, triton_avg_batch=None)
    outcome.points.append(PointResult("seed", 16, summary, reading))
    point = report.summary(outcome)["seed"]["16"]
    assert point["server_cpu_ms_per_req"] == 250.0  # 1.0 CPU s over 4 answers
    assert point["triton_avg_batch"] is None


def test_markdown_shows_the_seed_processes_and_worker_rss_when_seed_ran() -> None:
    outcome = Outcome()
    summary = summarize([0.01] * 4, errors=0, elapsed_s=1.0, series_per_request=1)
    cpu = {"seed_api": 0.5, "seed_worker": 0.5, LOADGEN: 0.1}
    reading = Reading(cpu_s=cpu, peak_rss_mib={"seed_worker": 300.0}, triton_avg_batch=None)
    outcome.points.append(PointResult("seed", 16, summary, reading))
    table = report.markdown(outcome)
    assert "CPU s seed_api | CPU s seed_worker" in table
    assert "| seed | 16 | 0.50 | 0.50 | 0.10 | 250.00 | 300 |" in table


def test_to_json_holds_points_bulk_machine_and_command() -> None:
    document = report.to_json(_outcome(), command="hybrid-inference bench --quick", options={"x": math.nan})
    assert document["command"] == "hybrid-inference bench --quick"
    assert document["options"] == {"x": None}
    assert len(document["points"]) == 18
    point = document["points"][0]
    assert {"config", "concurrency", "rps", "p50_ms", "p95_ms", "p99_ms", "errors"} <= set(point)
    assert point["cpu_s"]["worker"] == 2.0
    assert document["bulk"][1]["triton_avg_batch"] == 126.0
    assert document["machine"]["cpus"] >= 1
    json.dumps(document, allow_nan=False)


def test_markdown_has_one_row_per_point_and_bulk() -> None:
    table = report.markdown(_outcome())
    assert table.count("| hybrid | 64 |") == 2  # latency table and resource table
    assert "| triton | 10000 |" in table


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "results.png"
    report.plot(_outcome(), path)
    assert path.read_bytes().startswith(b"\x89PNG")
