"""Metrics scraped for real: a Prometheus process scrapes the API, a worker and Triton after traffic,
and PromQL through its HTTP API returns what the traffic should have produced."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hybrid_core.settings import PROJECT_ROOT
from local_stack.prometheus import PrometheusServer, prometheus_binary, scrape_config
from local_stack.triton_server import LocalTritonServer, find_free_port
from local_stack.waiting import wait_until
from tests.support.data import request_series
from tests.support.processes import launch_api, launch_worker, started, stop_all
from tests.support.services import migrate_database, postgres_database

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        prometheus_binary() is None, reason="prometheus not installed (apt-get install prometheus)"
    ),
]

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "dashboards" / "hybrid-inference.json"
TOKEN = "metrics-token"
SERIES = request_series(1, 200, seed=41)


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


@pytest.fixture(scope="module")
def traffic(
    service_env: dict[str, str], redis_url: str, triton: LocalTritonServer, session_dir: Path
) -> Iterator[dict[str, Any]]:
    """An API and a worker with metrics on, fed with stable, canary and pinned jobs and a bad request."""
    worker_port, api_port = find_free_port(), find_free_port()
    with postgres_database() as database_url:
        migrate_database(database_url)
        env = service_env | {
            "HYBRID_DATABASE_URL": database_url,
            "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/4",
            "HYBRID_WORKER_METRICS_PORT": str(worker_port),
            "HYBRID_ADMIN_TOKEN": TOKEN,
        }
        worker, api = started(
            launch_worker(env, session_dir / "logs" / "worker-metrics.log"),
            launch_api(env, session_dir / "logs" / "api-metrics.log", api_port),
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=60) as client:
                wait_until(lambda: client.get("/readyz").status_code == 200, timeout_s=30, message="ready")
                policy = {"stable": "2", "canary": "1", "canary_weight": 0.5, "guards": {"enabled": False}}
                put = client.put(
                    "/v1/models/lstm_timeseries/rollout",
                    json=policy,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert put.status_code == 200, put.text
                bodies = [{"routing_key": f"k{i}"} for i in range(20)] + [{"version": "1"}] * 5
                job_ids = []
                for extra in bodies:
                    accepted = client.post(
                        "/v1/jobs", json={"model": "lstm_timeseries", "series": SERIES, **extra}
                    )
                    assert accepted.status_code == 202, accepted.text
                    job_ids.append(accepted.json()["job_id"])
                named = {"id": "metrics-1", "values": SERIES[0], "start": "2001-01-06", "freq": "W-SAT"}
                accepted = client.post(
                    "/v1/jobs", json={"model": "lstm_timeseries", "series": [named], "version": "1"}
                )
                assert accepted.status_code == 202, accepted.text
                job_ids.append(accepted.json()["job_id"])
                views = [client.get(f"/v1/jobs/{j}", params={"wait_s": 30}).json() for j in job_ids]
                assert {v["status"] for v in views} == {"succeeded"}
                # Actuals on the named forecast, so the dashboard's accuracy panels have data.
                [forecast] = views[-1]["forecasts"]
                actual = {
                    "id": "metrics-1",
                    "timestamps": forecast["timestamps"][:2],
                    "values": forecast["mean"][:2],
                }
                posted = client.post("/v1/actuals", json={"model": "lstm_timeseries", "series": [actual]})
                assert posted.status_code == 202, posted.text
                wait_until(
                    lambda: "hybrid_forecast_covered_points_total{" in client.get("/metrics").text,
                    timeout_s=30,
                    message="the actuals scored",
                )
                assert client.post("/v1/jobs", json={"model": "nope", "series": SERIES}).status_code == 404
            yield {
                "views": views,
                "targets": {
                    "triton": [triton.metrics_url.removeprefix("http://").split("/")[0]],
                    "api": [f"127.0.0.1:{api_port}"],
                    "worker": [f"127.0.0.1:{worker_port}"],
                },
            }
        finally:
            stop_all(api, worker)


@pytest.fixture(scope="module")
def prometheus(traffic: dict[str, Any], session_dir: Path) -> Iterator[PrometheusServer]:
    config = scrape_config(traffic["targets"], interval_s=1)
    with PrometheusServer(config, find_free_port(), session_dir / "prometheus") as server:
        # rate() needs two samples inside its window after the traffic: wait for a few scrapes.
        wait_until(
            lambda: server.query("count_over_time(up{job='worker'}[1m]) >= 3"),
            timeout_s=30,
            message="three scrapes",
        )
        yield server


def value(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


def test_prometheus_counts_succeeded_jobs_per_version_when_traffic_ran(
    prometheus: PrometheusServer, traffic: dict[str, Any]
) -> None:
    expected = Counter(v["version"] for v in traffic["views"])
    result = prometheus.query('sum by (version) (hybrid_jobs_finished_total{status="succeeded"})')
    assert {s["metric"]["version"]: value(s) for s in result} == {k: float(n) for k, n in expected.items()}
    submitted = prometheus.query("sum by (version, arm) (hybrid_jobs_submitted_total)")
    arms = Counter((v["version"], v["arm"]) for v in traffic["views"])
    assert {(s["metric"]["version"], s["metric"]["arm"]): value(s) for s in submitted} == {
        k: float(n) for k, n in arms.items()
    }
    assert {arm for _, arm in arms} == {"stable", "canary", "pinned"}


def test_prometheus_scrapes_all_three_targets_when_stack_runs(prometheus: PrometheusServer) -> None:
    up = {s["metric"]["job"]: value(s) for s in prometheus.query("up")}
    assert up == {"triton": 1.0, "api": 1.0, "worker": 1.0}
    # Workers batch jobs, so requests may be fewer than jobs; every series is one inference.
    triton = prometheus.query('sum(nv_inference_count{model="lstm_timeseries"})')
    assert value(triton[0]) >= 25
    rejected = prometheus.query('sum(hybrid_requests_rejected_total{reason="model_not_found"})')
    assert value(rejected[0]) == 1.0
    stages = {s["metric"]["stage"] for s in prometheus.query("hybrid_job_stage_duration_seconds_count")}
    assert stages == {"queue_wait", "preprocess", "infer", "postprocess", "persist", "publish"}


@pytest.mark.parametrize("expression", dashboard_expressions())
def test_dashboard_expression_returns_data_when_traffic_ran(
    prometheus: PrometheusServer, expression: str
) -> None:
    assert prometheus.query(expression), f"no data for {expression}"
