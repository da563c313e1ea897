"""Request, result and event schemas shared by the API, the workers and the event consumers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Arm = Literal["pinned", "stable", "canary", "latest", "shadow"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


SeriesValuesIn = Annotated[list[float | None], Field(min_length=1)]


class NamedSeries(BaseModel):
    """A series with an id and, optionally, a time axis: ``start`` and ``freq``, or ``timestamps``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, description="The series' id, unique in the request.")
    values: SeriesValuesIn = Field(description="Oldest point first; null marks a missing point.")
    start: str | None = Field(
        default=None, max_length=64, description="ISO 8601 date or datetime of the first value."
    )
    freq: str | None = Field(
        default=None, max_length=32, description="pandas frequency alias: 'D', 'h', 'W-SAT', 'MS'..."
    )
    timestamps: list[str] | None = Field(
        default=None,
        description="One ISO 8601 timestamp per value, instead of start (freq inferred if absent).",
    )

    @model_validator(mode="after")
    def _one_time_axis(self) -> NamedSeries:
        if self.start is not None and self.timestamps is not None:
            raise ValueError("give start or timestamps, not both")
        if self.start is not None and self.freq is None:
            raise ValueError("start needs a freq")
        if self.freq is not None and self.start is None and self.timestamps is None:
            raise ValueError("freq needs a start or timestamps")
        return self


def _series_shape(value: Any) -> str:
    return "named" if isinstance(value, dict | NamedSeries) else "bare"


SERIES_SHAPE_TAGS = ("bare", "named")
"""Tags of the series union; they appear in validation locations and are left out of field paths."""

SeriesIn = Annotated[
    Annotated[list[float | None], Field(min_length=1), Tag("bare")] | Annotated[NamedSeries, Tag("named")],
    Discriminator(_series_shape),
]


ModelName = Annotated[str, Field(min_length=1, max_length=128, description="Model name in the repository.")]
VersionPin = Annotated[
    str | None, Field(min_length=1, max_length=32, description='Pin a repository version, e.g. "1".')
]
RoutingKey = Annotated[
    str | None, Field(max_length=256, description="Sticky key for canary assignment (customer, sensor).")
]
Horizon = Annotated[
    int | None,
    Field(
        ge=1,
        description="Steps to forecast; the model's by default, at most 4 x the model's (recursive past it).",
    ),
]
Levels = Annotated[
    list[float], Field(max_length=10, description="Interval levels in percent, 50 to 99, e.g. [80, 95].")
]
Quantiles = Annotated[
    list[float], Field(max_length=20, description="Quantiles, 0.01 to 0.99, e.g. [0.1, 0.5, 0.9].")
]
"""The options every request shape shares (JSON body, array body's query), constrained once."""


class ForecastRequest(BaseModel):
    """Body of ``POST /v1/jobs`` and ``POST /v1/models/{model}/forecast``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: ModelName
    series: list[SeriesIn] = Field(
        min_length=1,
        description="One or more series: a list of values (oldest first, null for a missing point), or an "
        "object with an id and optionally a time axis.",
    )
    version: VersionPin = None
    routing_key: RoutingKey = None
    horizon: Horizon = None
    levels: Levels = []
    quantiles: Quantiles = []

    def values_of(self, index: int) -> list[float | None]:
        """The values of series ``index``, whatever its shape."""
        item = self.series[index]
        return item.values if isinstance(item, NamedSeries) else item

    def all_values(self) -> list[list[float | None]]:
        """Every series' values, in order."""
        return [item.values if isinstance(item, NamedSeries) else item for item in self.series]


_FORECAST_CORE = frozenset({"mean", "lower", "upper"})


class ForecastOut(BaseModel):
    """One series' forecast: ``mean``, the version's interval (``lower``, ``upper``), what was asked."""

    id: str | None = Field(default=None, description="The series' id, when the request named it.")
    timestamps: list[str] | None = Field(
        default=None, description="Forecast dates, when the series was dated."
    )
    mean: list[float]
    lower: list[float]
    upper: list[float]
    intervals: dict[str, dict[Literal["lower", "upper"], list[float]]] | None = Field(
        default=None, description='By level asked, e.g. "80": {"lower": [...], "upper": [...]}.'
    )
    quantiles: dict[str, list[float]] | None = Field(
        default=None, description='By quantile asked, e.g. "0.1".'
    )

    @model_serializer(mode="wrap")
    def _without_absent_parts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Parts the request did not ask for are left out, so old clients see the old shape.
        shaped: dict[str, Any] = handler(self)
        return {key: value for key, value in shaped.items() if value is not None or key in _FORECAST_CORE}


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. invalid_input, too_many_requests.")
    message: str
    field: str | None = Field(default=None, description="The offending field, e.g. series[3][17], body.")
    details: list[ErrorDetail] | None = Field(default=None, description="Every problem, for invalid input.")


class ErrorEnvelope(BaseModel):
    """Every error answer of the API: ``{"error": {...}}``."""

    error: ErrorOut


class JobAccepted(BaseModel):
    """Answer of ``POST /v1/jobs`` (HTTP 202)."""

    model_config = ConfigDict(protected_namespaces=())

    job_id: str
    status: JobStatus
    model: str
    version: str
    arm: Arm
    series_count: int
    links: dict[str, str]


class JobView(BaseModel):
    """A job as ``GET /v1/jobs/{job_id}`` shows it."""

    model_config = ConfigDict(protected_namespaces=())

    job_id: str
    status: JobStatus
    model: str
    version: str
    arm: Arm
    horizon: int
    series_count: int
    attempts: int = 0
    forecasts: list[ForecastOut] | None = None
    error: ErrorOut | None = None
    interval_level: float | None = None
    direct_steps: int | None = Field(
        default=None,
        description="Past the model's horizon: how many first steps came straight from the model.",
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


EVENT_INLINE_MAX_SERIES = 100
"""Events carry the forecasts of jobs up to this many series; larger results stay behind ``result_path``
(a 10,000-series forecast is ~13 MB, far over Kafka's default 1 MB message limit)."""


class JobEvent(BaseModel):
    """One Kafka event per finished job (key: job id)."""

    model_config = ConfigDict(protected_namespaces=())

    job_id: str
    status: Literal["succeeded", "failed", "cancelled"]
    model: str
    version: str
    arm: Arm
    series_count: int
    timings_s: dict[str, float]
    result_path: str = Field(description="Where the API serves the job and its forecasts.")
    forecasts: list[ForecastOut] | None = Field(
        default=None, description=f"Inline for succeeded jobs of at most {EVENT_INLINE_MAX_SERIES} series."
    )
    error: ErrorOut | None = None
    direct_steps: int | None = None
    finished_at: datetime

    @property
    def encoded_key(self) -> bytes:
        return self.job_id.encode()

    @property
    def encoded_value(self) -> bytes:
        return self.model_dump_json().encode()


class ActualSeries(BaseModel):
    """Observed values of one named series, one timestamp each."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, description="The id its forecasts were asked with.")
    timestamps: list[str] = Field(min_length=1, max_length=100_000, description="ISO 8601, one per value.")
    values: list[float] = Field(min_length=1, max_length=100_000)


class ActualsRequest(BaseModel):
    """Body of ``POST /v1/actuals``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(min_length=1, max_length=128)
    series: list[ActualSeries] = Field(min_length=1, max_length=10_000)


class ActualsAccepted(BaseModel):
    """Answer of ``POST /v1/actuals`` (HTTP 202): scoring runs in the background."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    points: int = Field(description="Points in the request.")
    new_points: int = Field(description="Points not recorded before (a point keeps its first value).")
