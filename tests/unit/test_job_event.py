"""Job events stay within a Kafka message: forecasts inline for small jobs only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hybrid_core.errors import JobExpired
from hybrid_core.schemas import EVENT_INLINE_MAX_SERIES
from job_store.models import Job
from job_store.views import job_event


def job(series_count: int) -> Job:
    return Job(
        id="f" * 32,
        model="lstm_timeseries",
        version="2",
        arm="canary",
        horizon=2,
        series_count=series_count,
        status="succeeded",
        attempts=1,
        created_at=datetime.now(UTC),
    )


def forecasts(count: int) -> list[dict[str, list[float]]]:
    return [{"mean": [1.0, 2.0], "lower": [0.5, 1.5], "upper": [1.5, 2.5]}] * count


def test_job_event_inlines_forecasts_when_job_small() -> None:
    event = job_event(job(3), forecasts=forecasts(3))
    assert event.status == "succeeded"
    assert event.forecasts is not None and len(event.forecasts) == 3
    assert event.result_path == f"/v1/jobs/{'f' * 32}"


def test_job_event_points_to_result_when_job_too_large_to_inline() -> None:
    count = EVENT_INLINE_MAX_SERIES + 1
    event = job_event(job(count), forecasts=forecasts(count))
    assert event.forecasts is None
    assert event.series_count == count
    assert len(event.encoded_value) < 1_000


def test_job_event_carries_reason_when_job_failed() -> None:
    event = job_event(job(1), error=JobExpired("too late"))
    assert event.status == "failed"
    assert event.error is not None and event.error.code == "job_expired"


def test_job_event_carries_ids_timestamps_and_bands_when_the_request_named_them() -> None:
    named = {
        "id": "sensor-7",
        "timestamps": ["2024-01-01T00:00:00", "2024-01-01T01:00:00"],
        **forecasts(1)[0],
        "intervals": {"80": {"lower": [0.7, 1.7], "upper": [1.3, 2.3]}},
    }
    event = job_event(job(1), forecasts=[named], direct_steps=None)
    value = json.loads(event.encoded_value)
    assert value["forecasts"] == [named]
    plain = json.loads(job_event(job(1), forecasts=forecasts(1)).encoded_value)
    assert set(plain["forecasts"][0]) == {"mean", "lower", "upper"}
