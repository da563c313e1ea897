"""The provisioned Grafana dashboard is valid, complete and uses only the metrics we export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "hybrid-inference.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "hybrid-inference.yml"

# The metrics contract of the API, the workers and Triton (histograms by their series).
KNOWN_METRICS = {
    "hybrid_http_requests_total",
    "hybrid_http_request_duration_seconds_bucket",
    "hybrid_jobs_submitted_total",
    "hybrid_requests_rejected_total",
    "hybrid_queue_depth",
    "hybrid_job_stage_duration_seconds_bucket",
    "hybrid_jobs_finished_total",
    "hybrid_job_failures_total",
    "hybrid_job_retries_total",
    "hybrid_triton_requests_in_flight",
    "hybrid_kafka_events_pending",
    "hybrid_job_duration_seconds_bucket",
    "hybrid_forecast_scored_points_total",
    "hybrid_forecast_abs_error_total",
    "hybrid_forecast_scaled_points_total",
    "hybrid_forecast_scaled_error_total",
    "hybrid_forecast_covered_points_total",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_request_success",
    "nv_inference_request_failure",
}
BATCH_SIZE_EXPR = "sum(rate(nv_inference_count[1m])) / sum(rate(nv_inference_exec_count[1m]))"
QUEUE_TIME_EXPR = "rate(nv_inference_queue_duration_us[1m]) / rate(nv_inference_request_success[1m])"
METRIC_NAME = re.compile(r"\b(?:hybrid|nv)_[a-z_]+\b")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@pytest.fixture(scope="module")
def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows only group them)."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _exprs(panel: dict[str, Any]) -> list[str]:
    return [str(target["expr"]) for target in panel["targets"]]


def _panel(panels: list[dict[str, Any]], *words: str) -> dict[str, Any]:
    """The one panel whose title holds every word (case-insensitive)."""
    found = [p for p in panels if all(word.lower() in p["title"].lower() for word in words)]
    assert len(found) == 1, f"want one panel titled with {words}, found {[p['title'] for p in found]}"
    return found[0]


def test_dashboard_is_identified_when_loaded(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "hybrid-inference"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_dashboard_panels_have_datasource_and_targets_when_shown(panels: list[dict[str, Any]]) -> None:
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    assert panels
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_panels_fit_grid_when_laid_out(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0, panel["title"]


def test_dashboard_queries_use_contract_metrics_when_written(panels: list[dict[str, Any]]) -> None:
    used = {name for panel in panels for expr in _exprs(panel) for name in METRIC_NAME.findall(expr)}
    assert used <= KNOWN_METRICS, f"unknown metric names: {sorted(used - KNOWN_METRICS)}"


def test_dashboard_queries_balance_brackets_when_written(panels: list[dict[str, Any]]) -> None:
    pairs = {")": "(", "]": "[", "}": "{"}
    for panel in panels:
        for expr in _exprs(panel):
            stack: list[str] = []
            for char in re.sub(r'"[^"]*"', '""', expr):
                if char in "([{":
                    stack.append(char)
                elif char in pairs:
                    assert stack and stack.pop() == pairs[char], f"{panel['title']}: {expr}"
            assert not stack, f"{panel['title']}: {expr}"


def test_dashboard_shows_throughput_by_status_when_jobs_finish(panels: list[dict[str, Any]]) -> None:
    exprs = _exprs(_panel(panels, "throughput", "status"))
    assert "sum by (status) (rate(hybrid_jobs_finished_total[1m]))" in exprs


@pytest.mark.parametrize("quantile", ["0.5", "0.99"])
def test_dashboard_shows_stage_latency_when_workers_report_stages(
    panels: list[dict[str, Any]], quantile: str
) -> None:
    label = {"0.5": "p50", "0.99": "p99"}[quantile]
    (expr,) = _exprs(_panel(panels, "stage latency", label))
    assert expr.startswith(f"histogram_quantile({quantile}, ")
    assert "sum by (le, stage)" in expr
    assert "hybrid_job_stage_duration_seconds_bucket" in expr


def test_dashboard_shows_triton_batching_when_triton_is_scraped(panels: list[dict[str, Any]]) -> None:
    assert BATCH_SIZE_EXPR in _exprs(_panel(panels, "triton", "batch size"))
    assert QUEUE_TIME_EXPR in _exprs(_panel(panels, "triton", "queue time"))


def test_dashboard_shows_error_rate_when_jobs_fail(panels: list[dict[str, Any]]) -> None:
    error_panels = [p for p in panels if "error rate" in p["title"].lower()]
    assert error_panels
    for panel in error_panels:
        assert any('status="failed"' in expr for expr in _exprs(panel)), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_dashboard_compares_canary_and_stable_when_rollout_runs(panels: list[dict[str, Any]]) -> None:
    arm_panels = [p for p in panels if "by arm" in p["title"].lower()]
    kinds = {
        word for p in arm_panels for word in ("throughput", "latency", "error") if word in p["title"].lower()
    }
    assert kinds == {"throughput", "latency", "error"}
    for panel in arm_panels:
        for expr in _exprs(panel):
            assert 'arm=~"canary|stable"' in expr and "by (" in expr and "arm" in expr, panel["title"]
    rows = {(p["gridPos"]["y"], p["gridPos"]["h"]) for p in arm_panels}
    assert len(rows) == 1, "canary vs stable panels are not side by side"


def test_grafana_provisioning_points_at_mounted_dashboards_when_compose_runs() -> None:
    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    grafana = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = dict(str(volume).split(":")[:2] for volume in grafana["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    datasource = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"


def test_dashboard_shows_accuracy_when_actuals_are_scored(panels: list[dict[str, Any]]) -> None:
    mase = " ".join(_exprs(_panel(panels, "MASE")))
    assert "hybrid_forecast_scaled_error_total" in mase and "hybrid_forecast_scaled_points_total" in mase
    assert "hybrid_forecast_covered_points_total" in " ".join(_exprs(_panel(panels, "coverage")))
