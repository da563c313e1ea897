"""Actuals in, accuracy out: scores by hand, and a rollout rolled back because its canary forecasts worse.

The guard test serves its own copy of the repository with a version 3 of lstm_timeseries whose
model is version 2's plus a constant (three scale units, about 8.5 ppm): it loads and answers
fine, but forecasts worse.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import torch

from hybrid_core.version_params import Artifact, load_version_params, params_path, sha256_of, write_params
from local_stack.triton_server import LocalTritonServer
from local_stack.waiting import wait_until
from tests.conftest import CANONICAL_REPOSITORY
from tests.integration.test_rollout import AUTH, TOKEN, Platform
from tests.support.services import migrate_database, postgres_database
from tests.support.triton import module_triton

pytestmark = pytest.mark.integration

MODEL = "lstm_timeseries"
START = "2001-01-06"
WEEKS = 200
TREND = [300.0 + 0.1 * week for week in range(WEEKS)]
"""A straight line: its 52-week seasonal naive error is 5.2 at every point, so MASE = MAE / 5.2."""


def weekly_dates(count: int, after: int = 0) -> list[str]:
    return [s.isoformat() for s in pd.date_range(START, periods=after + count, freq="W-SAT")[after:]]


def counter(client: httpx.Client, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    selector = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(part in match.group(1).split(",") for part in selector.split(",")):
            total += float(match.group(2))
    return total


def test_actuals_give_the_hand_computed_mae_mase_and_coverage(client: httpx.Client) -> None:
    series = {"id": "hand-computed", "values": TREND, "start": START, "freq": "W-SAT"}
    body = {"model": MODEL, "version": "1", "series": [series], "horizon": 3, "levels": [95]}
    answer = client.post(f"/v1/models/{MODEL}/forecast", json=body)
    assert answer.status_code == 200, answer.text
    [forecast] = answer.json()["forecasts"]
    labels = {"model": MODEL, "version": "1", "arm": "pinned"}
    before = {
        name: counter(client, name, **labels)
        for name in (
            "hybrid_forecast_scored_points_total",
            "hybrid_forecast_abs_error_total",
            "hybrid_forecast_scaled_error_total",
        )
    }
    covered_before = counter(client, "hybrid_forecast_covered_points_total", level="95", **labels)
    # Step 1 exactly on the mean; step 2 off by 10.4 (2 x the scale of 5.2, far outside the 95% band).
    actual = {
        "id": "hand-computed",
        "timestamps": forecast["timestamps"][:2],
        "values": [forecast["mean"][0], forecast["mean"][1] + 10.4],
    }
    assert forecast["intervals"]["95"]["upper"][1] < actual["values"][1]
    posted = client.post("/v1/actuals", json={"model": MODEL, "series": [actual]})
    assert posted.status_code == 202, posted.text
    assert posted.json() == {"model": MODEL, "points": 2, "new_points": 2}

    def scored() -> float:
        return (
            counter(client, "hybrid_forecast_scored_points_total", **labels)
            - before["hybrid_forecast_scored_points_total"]
        )

    wait_until(lambda: scored() >= 2, timeout_s=30, message="the two actuals scored")
    assert scored() == 2
    mae = (
        counter(client, "hybrid_forecast_abs_error_total", **labels)
        - before["hybrid_forecast_abs_error_total"]
    ) / 2
    mase = (
        counter(client, "hybrid_forecast_scaled_error_total", **labels)
        - before["hybrid_forecast_scaled_error_total"]
    ) / 2
    coverage = (
        counter(client, "hybrid_forecast_covered_points_total", level="95", **labels) - covered_before
    ) / 2
    assert mae == pytest.approx(5.2, abs=1e-6)
    assert mase == pytest.approx(1.0, abs=1e-6)  # errors 0 and 10.4 over a scale of 5.2
    assert coverage == 0.5


def test_actuals_get_422_naming_the_field_when_timestamps_and_values_disagree(client: httpx.Client) -> None:
    bad = [
        ({"id": "a", "timestamps": weekly_dates(2), "values": [1.0]}, "series[0].values"),
        ({"id": "a", "timestamps": ["2024-13-01"], "values": [1.0]}, "series[0].timestamps[0]"),
    ]
    for series, field in bad:
        response = client.post("/v1/actuals", json={"model": MODEL, "series": [series]})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
    unknown = client.post("/v1/actuals", json={"model": "nope", "series": [bad[0][0]]})
    assert unknown.status_code == 404


class Biased(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted: torch.Tensor = self.inner(x) + 3.0
        return shifted


def add_worse_version(repository: Path) -> None:
    """Version 3 of MODEL: version 2's forecasts plus three scale units."""
    folder = repository / MODEL / "3"
    folder.mkdir()
    inner = torch.jit.load(str(repository / MODEL / "2" / "model.pt"))  # type: ignore[no-untyped-call]
    torch.jit.script(Biased(inner)).save(str(folder / "model.pt"))  # type: ignore[no-untyped-call]
    params = load_version_params(repository, MODEL, "2")
    artifact = Artifact(file="model.pt", format="torchscript", sha256=sha256_of(folder / "model.pt"))
    write_params(
        params_path(repository, MODEL, "3"), params.model_copy(update={"version": "3", "artifact": artifact})
    )


@pytest.fixture(scope="module")
def guard_platform(
    tmp_path_factory: pytest.TempPathFactory, service_env: dict[str, str], redis_url: str, session_dir: Path
) -> Iterator[Platform]:
    repository = tmp_path_factory.mktemp("accuracy") / "repository"
    shutil.copytree(CANONICAL_REPOSITORY / MODEL, repository / MODEL)
    add_worse_version(repository)
    triton: LocalTritonServer
    with (
        module_triton(repository, session_dir / "triton-accuracy") as triton,
        postgres_database() as database,
    ):
        migrate_database(database)
        env = dict(service_env)
        env.update(
            {
                "HYBRID_DATABASE_URL": database,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/9",
                "HYBRID_TRITON_GRPC_URL": triton.grpc_url,
                **triton.control_env(),
                "HYBRID_TRITON_PYTHON_REPOSITORY": str(triton.repository),
                "HYBRID_MODEL_REPOSITORY": str(repository),
                "HYBRID_ADMIN_TOKEN": TOKEN,
            }
        )
        platform = Platform(env, session_dir / "logs")
        platform.start()
        try:
            yield platform
        finally:
            platform.stop()


def test_accuracy_guard_rolls_back_the_canary_when_it_forecasts_worse_on_shadowed_series(
    guard_platform: Platform,
) -> None:
    guards = {"max_mase_ratio": 1.5, "min_scored_points": 12, "min_requests": 1000}
    with httpx.Client(base_url=guard_platform.url, timeout=120) as api:
        policy = api.put(
            f"/v1/models/{MODEL}/rollout",
            json={"stable": "2", "canary": "3", "canary_weight": 0.0, "shadow_share": 1.0, "guards": guards},
            headers=AUTH,
        )
        assert policy.status_code == 200, policy.text
        wait_until(
            lambda: "3" in api.get(f"/v1/models/{MODEL}/rollout").json()["ready_versions"],
            timeout_s=60,
            message="canary loaded",
        )
        answers = _stable_answers_with_shadows(api)
        # Actuals one ppm above stable's forecast: stable's error is 1 ppm, the canary's about 7.5.
        actuals = [
            {"id": f["id"], "timestamps": f["timestamps"], "values": [m + 1.0 for m in f["mean"]]}
            for f in answers
        ]
        assert api.post("/v1/actuals", json={"model": MODEL, "series": actuals}).status_code == 202
        wait_until(
            lambda: api.get(f"/v1/models/{MODEL}/rollout").json()["canary"] is None,
            timeout_s=60,
            message="the accuracy guard rolled the canary back",
        )
        [entry] = [
            e for e in api.get(f"/v1/models/{MODEL}/rollout/audit").json() if e["action"] == "auto_rollback"
        ]
        assert entry["actor"] == "guard"
        assert "MASE" in entry["reason"] and "points both scored" in entry["reason"]
        ratio = float(re.search(r"ratio (\d+\.\d+)", entry["reason"]).group(1))  # type: ignore[union-attr]
        assert ratio > 5


def _stable_answers_with_shadows(api: httpx.Client) -> list[dict[str, Any]]:
    """Three named series forecast on stable, two as jobs and one on the sync path, each shadowed on
    the canary; returns stable's forecasts once every shadow is recorded."""
    named = [
        {"id": f"sensor-{i}", "values": [v + 2.0 * i for v in TREND], "start": START, "freq": "W-SAT"}
        for i in range(3)
    ]
    answers = []
    for series in named[:2]:
        accepted = api.post("/v1/jobs", json={"model": MODEL, "series": [series], "horizon": 6})
        assert accepted.status_code == 202, accepted.text
        view = api.get(f"/v1/jobs/{accepted.json()['job_id']}", params={"wait_s": 60}).json()
        assert (view["status"], view["arm"]) == ("succeeded", "stable")
        answers += view["forecasts"]
    sync = api.post(f"/v1/models/{MODEL}/forecast", json={"model": MODEL, "series": [named[2]], "horizon": 6})
    assert sync.status_code == 200, sync.text
    assert sync.json()["job_id"] is not None  # a shadowed sync answer is recorded, to hold its shadow
    answers += sync.json()["forecasts"]

    def shadows() -> int:
        report = api.get(f"/v1/models/{MODEL}/rollout/report").json()
        return int(report["shadow"]["requests"])

    wait_until(lambda: shadows() >= 3, timeout_s=60, message="three shadow runs recorded")
    return answers
