"""A worker batch shares one Triton request per group, and a poison job fails alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import HybridError, InvalidInput, ServiceUnavailable, VersionNotReady
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import ForecastOutcome
from hybrid_core.settings import Settings
from hybrid_core.version_params import VersionParams
from job_store.jobs import StartedJob
from job_store.models import Job
from tests.support.params import tiny_params
from triton_client.codec import InferenceOutput
from triton_client.errors import TritonModelNotFound
from worker.runtime import WorkerRuntime
from worker.service import _forecast_group

PARAMS = tiny_params(version="1")
KEY = ("m", "1", 3)
POISON: list[float | None] = [5.0, 5.0, 5.0, 5.0]
"""A flat series: its normalized window is all zeros, which the stand-in model refuses."""


@dataclass
class StubRuntime:
    """The three things ``_forecast_group`` uses of a worker runtime, and the requests it sent."""

    infer_fn: Callable[[npt.NDArray[np.float32]], InferenceOutput]
    settings: Settings = field(default_factory=Settings)
    infer_pool: None = None
    requests: list[int] = field(default_factory=list)

    def params(self, model: str, version: str) -> VersionParams:
        return PARAMS

    def infer(self, model: str, version: str, batch: npt.NDArray[np.float32]) -> InferenceOutput:
        self.requests.append(batch.shape[0])
        return self.infer_fn(batch)


def refuses_flat_rows(batch: npt.NDArray[np.float32]) -> InferenceOutput:
    if np.any(np.all(batch == 0, axis=1)):
        raise InvalidInput("the model refuses a flat window", field="series")
    return InferenceOutput(outputs=np.ones((batch.shape[0], 3), dtype=np.float32), model_version="1")


def started(job_id: str, *series: list[float | None]) -> StartedJob:
    job = Job(
        id=job_id, model="m", version="1", horizon=3, series_count=len(series), created_at=datetime.now(UTC)
    )
    return StartedJob(job=job, series=list(series), spec=ForecastSpec(horizon=3))


def run_group(runtime: StubRuntime, members: list[StartedJob]) -> dict[str, ForecastOutcome | HybridError]:
    outcome = _forecast_group(cast(WorkerRuntime, runtime), KEY, members)
    return {item.job.id: result for item, result in outcome}


def test_group_sends_one_request_and_splits_forecasts_per_job_when_all_valid() -> None:
    runtime = StubRuntime(refuses_flat_rows)
    members = [started("a", [1.0, 2.0, 3.0, 4.0]), started("b", [1.0, 2.0, 3.0, 5.0], [2.0, 2.0, 2.0, 3.0])]

    results = run_group(runtime, members)

    assert runtime.requests == [3]
    a, b = results["a"], results["b"]
    assert isinstance(a, ForecastOutcome) and isinstance(b, ForecastOutcome)
    assert len(a.forecasts) == 1 and len(b.forecasts) == 2
    np.testing.assert_allclose(a.forecasts[0].mean, [6.0, 6.0, 6.0])  # last value + one scale unit
    np.testing.assert_allclose(b.forecasts[1].mean, [5.0, 5.0, 5.0])


def test_poison_job_fails_alone_when_it_breaks_the_shared_request() -> None:
    runtime = StubRuntime(refuses_flat_rows)
    members = [
        started("good1", [1.0, 2.0, 3.0, 4.0]),
        started("poison", POISON),
        started("good2", [4.0, 3.0, 2.0, 1.0]),
    ]

    results = run_group(runtime, members)

    assert isinstance(results["poison"], InvalidInput)
    assert isinstance(results["good1"], ForecastOutcome) and isinstance(results["good2"], ForecastOutcome)
    assert runtime.requests == [3, 1, 1, 1]  # the shared request, then each job alone


def test_every_job_gets_the_retryable_error_when_triton_is_unavailable() -> None:
    def unavailable(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        raise ServiceUnavailable("Triton is down")

    runtime = StubRuntime(unavailable)
    results = run_group(runtime, [started("a", [1.0, 2.0, 3.0, 4.0]), started("b", [1.0, 2.0, 3.0, 4.0])])

    assert all(isinstance(result, ServiceUnavailable) for result in results.values())
    assert runtime.requests == [2]  # no per-job retry storm: each task retries on its own budget


def test_group_retries_when_triton_does_not_serve_a_version_the_repository_holds() -> None:
    def not_loaded(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        raise TritonModelNotFound("Triton: version 1 is not at ready state (StatusCode.NOT_FOUND)")

    results = run_group(StubRuntime(not_loaded), [started("a", [1.0, 2.0, 3.0, 4.0])])

    assert isinstance(results["a"], VersionNotReady)
    assert results["a"].retryable
