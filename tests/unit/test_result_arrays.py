"""job_store.views.result_arrays: a stored result row as the arrays of ``GET /v1/jobs/{id}/forecasts``."""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.series_codec import pack_forecasts
from job_store.models import JobResult
from job_store.views import result_arrays, result_forecasts

FORECASTS = [
    {"mean": [1.0, 2.0, 3.0], "lower": [0.5, 1.5, 2.5], "upper": [1.5, 2.5, 3.5]},
    {"mean": [4.0, 5.0, 6.0], "lower": [3.5, 4.5, 5.5], "upper": [4.5, 5.5, 6.5]},
]


def result_row(meta: dict[str, Any] | None) -> JobResult:
    return JobResult(
        job_id="j", version="1", packed=pack_forecasts(FORECASTS), timings={}, meta=meta, worker="w"
    )


def test_result_arrays_carry_interval_level_and_direct_steps_as_0d_arrays_when_steps_were_recursive() -> None:
    meta = ForecastSpec(horizon=3, ids=("a", "b")).result_meta(direct_steps=2)

    arrays = result_arrays(result_row(meta), interval_level=0.9)

    assert list(arrays) == ["mean", "lower", "upper", "id", "interval_level", "direct_steps"]
    assert arrays["interval_level"].shape == () and arrays["interval_level"].dtype == np.float64
    assert arrays["interval_level"].item() == 0.9
    assert arrays["direct_steps"].shape == () and arrays["direct_steps"].dtype.kind == "i"
    assert arrays["direct_steps"].item() == 2
    assert arrays["id"].tolist() == [f["id"] for f in result_forecasts(result_row(meta))]


def test_result_arrays_leave_direct_steps_out_when_no_step_was_recursive() -> None:
    arrays = result_arrays(result_row(None), interval_level=0.8)

    assert list(arrays) == ["mean", "lower", "upper", "interval_level"]
    np.testing.assert_array_equal(arrays["mean"], [f["mean"] for f in FORECASTS])


def test_result_arrays_leave_interval_level_out_when_the_versions_level_is_unknown() -> None:
    meta = ForecastSpec(horizon=3).result_meta(direct_steps=2)

    assert list(result_arrays(result_row(meta))) == ["mean", "lower", "upper", "direct_steps"]
