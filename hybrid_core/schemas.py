"""Request, result and event schemas shared by the API, the workers and the event consumers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Arm = Literal["pinned", "stable", "canary", "latest", "shadow"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class ForecastRequest(BaseModel):
    """Body of ``POST /v1/jobs`` and ``POST /v1/models/{model}/forecast``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(min_length=1, max_length=128, description="Model name in the repository.")
    series: list[Annotated[list[float | None], Field(min_length=1)]] = Field(
        min_length=1, description="One or more series, oldest point first; null marks a missing point."
    )
    version: str | None = Field(
        default=None, min_length=1, max_length=32, description="Pin a repository version, e.g. \"1\"."
    )
    routing_key: str | None = Field(
        default=None, max_length=256, description="Sticky key for canary assignment (customer, sensor)."
    )
    horizon: int | None = Field(default=None, ge=1, description="Steps to forecast; the model's by default.")


class ForecastOut(BaseModel):
    mean: list[float]
    lower: list[float]
    upper: list[float]


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
    finished_at: datetime

    @property
    def encoded_key(self) -> bytes:
        return self.job_id.encode()

    @property
    def encoded_value(self) -> bytes:
        return self.model_dump_json().encode()
