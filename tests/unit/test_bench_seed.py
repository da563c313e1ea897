"""The seed configuration's pure parts: request checks, result views, Celery wiring, the forecast."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from benchmarks.seed_app import check_request
from benchmarks.seed_queue import SEED_QUEUE, job_view, make_seed_celery, result_key
from benchmarks.seed_worker import forecast_result, worker_argv
from hybrid_core.errors import InvalidInput, ModelNotFound, VersionNotFound
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.processing import postprocess, preprocess
from hybrid_core.schemas import ForecastRequest
from hybrid_core.settings import PROJECT_ROOT, Settings
from hybrid_core.version_params import VersionParams, load_version_params, repository_versions

REPOSITORY = PROJECT_ROOT / "model_repository"
MODEL = "lstm_timeseries"
SETTINGS = Settings(redis_url="redis://127.0.0.1:1/0")


def _newest() -> VersionParams:
    return load_version_params(REPOSITORY, MODEL, repository_versions(REPOSITORY, MODEL)[-1])


def _series(length: int) -> list[float | None]:
    return [float(i % 52) + 300.0 for i in range(length)]


def test_check_request_picks_the_newest_version_and_its_horizon_when_none_given() -> None:
    params = _newest()
    body = ForecastRequest(model=MODEL, series=[_series(params.window)])
    assert check_request(REPOSITORY, body) == (params.version, params.horizon)


def test_check_request_keeps_the_pinned_version_and_horizon_when_given() -> None:
    body = ForecastRequest(model=MODEL, version="1", horizon=3, series=[_series(500)])
    assert check_request(REPOSITORY, body) == ("1", 3)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"model": "nope"}, ModelNotFound),
        ({"version": "999"}, VersionNotFound),
        ({"horizon": 10_000}, InvalidInput),
        ({"series": [[1.0, 2.0]]}, InvalidInput),
    ],
)
def test_check_request_raises_our_error_when_the_request_is_unfit(
    fields: dict[str, object], error: type[Exception]
) -> None:
    body = ForecastRequest.model_validate({"model": MODEL, "series": [_series(500)], **fields})
    with pytest.raises(error):
        check_request(REPOSITORY, body)


def test_job_view_reads_queued_when_nothing_is_stored() -> None:
    assert job_view("j1", None) == {"job_id": "j1", "status": "queued"}


def test_job_view_carries_the_result_when_the_task_succeeded() -> None:
    result = {"version": "2", "forecasts": [{"mean": [1.0], "lower": [0.5], "upper": [1.5]}]}
    view = job_view("j1", {"status": "SUCCESS", "result": result, "task_id": "j1"})
    assert view == {"job_id": "j1", "status": "succeeded", **result}


def test_job_view_names_the_exception_when_the_task_failed() -> None:
    meta = {"status": "FAILURE", "result": {"exc_type": "InvalidInput", "exc_message": ["too short"]}}
    view = job_view("j1", meta)
    assert view["status"] == "failed"
    assert view["error"] == {"code": "job_failed", "message": "InvalidInput: too short"}
    assert "forecasts" not in view


def test_job_view_reads_running_when_the_task_is_retried() -> None:
    assert job_view("j1", {"status": "RETRY", "result": None})["status"] == "running"


def test_result_key_is_the_key_of_celerys_redis_backend() -> None:
    backend = make_seed_celery(SETTINGS, results=True).backend
    assert backend.get_key_for_task("abc").decode() == result_key("abc")


def test_make_seed_celery_has_no_result_backend_when_sending_only() -> None:
    # A sending client with the Redis backend would subscribe to every task's result channel.
    assert make_seed_celery(SETTINGS, results=False).conf.result_backend is None


def test_seed_worker_uses_the_prefork_pool_on_its_own_queue() -> None:
    argv = worker_argv(2, "WARNING")
    assert "--pool=prefork" in argv
    assert "--concurrency=2" in argv
    assert f"--queues={SEED_QUEUE}" in argv


def test_forecast_result_matches_our_processing_when_the_model_answers_zeros() -> None:
    params = _newest()
    series: list[list[float | None]] = [_series(params.window + 5), _series(params.window)]

    def forward(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.zeros((batch.shape[0], params.horizon), dtype=np.float32)

    result = forecast_result(series, params, forward, horizon=4, batch_size=1)
    prepared = preprocess(series, params)
    mean = np.repeat(prepared.centers[:, None], 4, axis=1)  # the model answers 0: the last value
    expected = postprocess(mean, params, ForecastSpec(horizon=4))
    assert result["version"] == params.version
    assert result["interval_level"] == params.residuals.interval_level
    assert result["forecasts"] == [{"mean": f.mean, "lower": f.lower, "upper": f.upper} for f in expected]
