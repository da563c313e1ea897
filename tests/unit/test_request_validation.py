"""API-side request checks against a version's window/horizon and the configured caps."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from hybrid_core.errors import InvalidInput, PayloadTooLarge
from hybrid_core.schemas import ForecastRequest
from hybrid_core.settings import Settings
from operation_server.errors import field_path
from operation_server.validation import validate_request
from tests.unit.test_forecasting import PARAMS

SETTINGS = Settings(max_series_per_job=3, max_series_length=10)


def request(series: list[list[float | None]], horizon: int | None = None) -> ForecastRequest:
    return ForecastRequest(model="m", series=series, horizon=horizon)


def test_validate_returns_model_horizon_when_none_requested() -> None:
    assert validate_request(request([[1.0] * 4]), PARAMS, SETTINGS).horizon == 3


@pytest.mark.parametrize(
    ("series", "horizon", "error", "field"),
    [
        ([[1.0] * 4] * 4, None, PayloadTooLarge, "series"),
        ([[1.0] * 3], None, InvalidInput, "series[0]"),
        ([[1.0] * 4, [1.0] * 11], None, InvalidInput, "series[1]"),
        ([[1.0, math.nan, 1.0, 1.0]], None, InvalidInput, "series[0][1]"),
        ([[1.0, 1.0, -math.inf, 1.0]], None, InvalidInput, "series[0][2]"),
        ([[1.0, None, None, None, None]], None, InvalidInput, "series[0]"),
        ([[1.0] * 4], 4, InvalidInput, "horizon"),
    ],
)
def test_validate_names_field_when_input_invalid(
    series: list[list[float | None]], horizon: int | None, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as raised:
        validate_request(request(series, horizon), PARAMS, SETTINGS)
    assert raised.value.field == field  # type: ignore[attr-defined]


def test_validate_accepts_gaps_when_window_has_observations() -> None:
    assert validate_request(request([[None, 2.0, None, 4.0]]), PARAMS, SETTINGS).horizon == 3


@pytest.mark.parametrize(
    ("location", "expected"),
    [(("body", "series", 3, 5), "series[3][5]"), (("query", "wait_s"), "wait_s"), (("body",), "body")],
)
def test_field_path_renders_location_when_pydantic_error(location: tuple[object, ...], expected: str) -> None:
    assert field_path(location) == expected


@pytest.mark.parametrize(("series", "field"), [([], "series"), ([[1.0], []], "series[1]")])
def test_schema_refuses_empty_lists_when_series_or_a_series_is_empty(
    series: list[list[float | None]], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        ForecastRequest(model="m", series=series)

    assert field_path(raised.value.errors()[0]["loc"]) == field
