"""HYBRID_OTLP_ENDPOINT: one job gives one trace across the API, the worker and the Triton call."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from local_stack.triton_server import find_free_port
from local_stack.waiting import wait_until
from tests.support.data import request_series
from tests.support.otlp import ReceivedSpan, otlp_receiver
from tests.support.processes import start_api, start_worker

pytestmark = pytest.mark.integration

TRITON_INFER = "/inference.GRPCInferenceService/ModelInfer"


def test_job_gives_one_trace_over_api_worker_and_triton_when_otlp_endpoint_set(
    service_env: dict[str, str], redis_url: str, session_dir: Path
) -> None:
    logs = session_dir / "logs"
    with otlp_receiver() as (endpoint, receiver):
        env = service_env | {
            "HYBRID_OTLP_ENDPOINT": endpoint,
            "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/8",
            # Export within a fifth of a second instead of the batching processor's 5 s.
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        port = find_free_port()
        worker = start_worker(env, logs / "worker-traced.log")
        api = start_api(env, logs / "api-traced.log", port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                accepted = client.post(
                    "/v1/jobs", json={"model": "lstm_timeseries", "series": request_series(1, 200, seed=9)}
                )
                assert accepted.status_code == 202, accepted.text
                job_id = accepted.json()["job_id"]
                view = client.get(f"/v1/jobs/{job_id}", params={"wait_s": 30}).json()
                assert view["status"] == "succeeded", view

            def job_trace() -> list[ReceivedSpan] | None:
                spans = receiver.snapshot()
                tagged = {s.trace_id for s in spans if s.attributes.get("hybrid.job_id") == job_id}
                if len(tagged) != 1:
                    return None
                trace = [s for s in spans if s.trace_id in tagged]
                names = {s.name for s in trace}
                return trace if TRITON_INFER in names and "persist" in names else None

            trace = wait_until(job_trace, timeout_s=20, interval_s=0.2, message="the job's trace")
        finally:
            api.stop()
            worker.stop()

    by_name = {s.name: s for s in trace}
    assert {s.service for s in trace} == {"hybrid-api", "hybrid-worker"}
    assert by_name["POST /v1/jobs"].service == "hybrid-api"
    assert by_name["enqueue"].attributes["hybrid.job_id"] == job_id
    assert by_name["run/hybrid.run_job"].attributes["hybrid.job_id"] == job_id
    assert by_name["run/hybrid.run_job"].parent_span_id == by_name["enqueue"].span_id
    assert by_name["worker.batch"].parent_span_id == by_name["run/hybrid.run_job"].span_id
    assert {"preprocess", "forecast", "persist"} <= by_name.keys()
    assert by_name[TRITON_INFER].service == "hybrid-worker"
