"""One settings object for every process, read from ``HYBRID_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout this package was imported from (editable installs and the local stack)."""


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``HYBRID_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="HYBRID_", env_file=None, extra="ignore")

    model_repository: Path = Field(
        default=PROJECT_ROOT / "model_repository",
        description="Canonical Triton model repository (version folders with params.json).",
    )
    state_dir: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Where the local stack keeps logs, the SQLite file and derived repositories.",
    )
    triton_grpc_url: str = Field(default="127.0.0.1:8001", description="Triton gRPC host:port.")
    triton_http_port: int = Field(default=8000, description="Local Triton HTTP port.")
    triton_grpc_port: int = Field(default=8001, description="Local Triton gRPC port.")
    triton_metrics_port: int = Field(default=8002, description="Local Triton metrics port.")
    triton_python_repository: Path | None = Field(
        default=None,
        description="The local Triton's Python-backend copy of the repository (set by the local stack): "
        "a version is linked into it before Triton is asked to load it.",
    )
    triton_timeout_s: float = Field(default=10.0, gt=0, description="Deadline of one inference call.")
    triton_start_timeout_s: float = Field(
        default=120.0, gt=0, description="How long the local launcher waits for Triton to be ready."
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker and hot job state.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the durable store; SQLite under state_dir when unset.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Comma-separated Kafka brokers; events are off when unset."
    )
    kafka_topic: str = Field(default="forecast-events", description="Topic of job events.")
    api_host: str = Field(default="127.0.0.1", description="Address the REST API binds.")
    api_port: int = Field(default=8080, description="Port the REST API binds.")
    max_series_per_job: int = Field(default=20_000, gt=0, description="Cap on series in one job.")
    max_series_length: int = Field(default=10_000, gt=0, description="Cap on points in one series.")
    max_body_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="Cap on a request body.")
    infer_batch_size: int = Field(
        default=64, gt=0, description="Series sent to Triton in one request by the worker."
    )
    admin_token: str | None = Field(
        default=None,
        description="Bootstrap admin bearer token: every scope (rollout writes, jobs); works with or "
        "without HYBRID_AUTH.",
    )
    auth: Literal["off", "required"] = Field(
        default="off",
        description="required: every job, forecast and model route needs 'Authorization: Bearer <key>' "
        "(hybrid-inference keys create); off: open, jobs belong to the tenant 'public'.",
    )
    max_queue_depth: int = Field(
        default=10_000,
        ge=0,
        description="POST /v1/jobs answers 429 while this many jobs wait in the queue (0: no bound).",
    )
    key_rate_per_s: float = Field(
        default=0.0,
        ge=0,
        description="Default submissions per second of one API key, with a burst of one second's worth "
        "(0: unlimited); a key can carry its own (keys create --rate-per-s).",
    )
    key_max_in_flight: int = Field(
        default=0,
        ge=0,
        description="Default jobs one tenant may have queued or running (0: unlimited); a key can carry "
        "its own (keys create --max-in-flight).",
    )
    sync_max_concurrency: int = Field(
        default=64, gt=0, description="Sync forecasts one API process serves at once; more get a 503."
    )
    key_cache_s: float = Field(
        default=5.0, ge=0, description="How long the API trusts a looked-up key (revocations land this late)."
    )
    task_max_retries: int = Field(default=8, ge=0, description="Retries of a job on retryable errors.")
    task_retry_backoff_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles.")
    task_retry_backoff_max_s: float = Field(default=30.0, gt=0, description="Cap on one retry delay.")
    task_visibility_timeout_s: int = Field(
        default=300,
        gt=0,
        description="Redelivery delay of a job whose worker died; must exceed the longest job.",
    )
    job_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="A job still queued or running this long after submission is failed as expired.",
    )
    retention_days: float = Field(
        default=30.0,
        ge=0,
        description="Finished jobs (inputs, results, shadows) and published events older than this are "
        "deleted (0: kept for ever).",
    )
    reconcile_interval_s: float = Field(
        default=5.0, gt=0, description="How often the API looks for jobs whose queue message was lost."
    )
    requeue_after_s: float = Field(
        default=30.0,
        gt=0,
        description="A job still queued this long after submission, with the queue empty, is enqueued again.",
    )
    job_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="Lease of a running job; its worker renews it every third of this. A running job "
        "whose lease expired (its worker died or dropped it) is enqueued again.",
    )
    worker_liveness_file: Path | None = Field(
        default=None,
        description="File the worker's consumer loop touches every 5 s; `python -m worker.liveness` "
        "checks that it is fresh (liveness probe). Unset: no file.",
    )
    worker_concurrency: int = Field(
        default=32, gt=0, description="Threads per worker process, i.e. jobs in flight to Triton."
    )
    worker_batch_max_jobs: int = Field(
        default=64, gt=0, description="Most jobs a worker process starts, infers and finishes as one batch."
    )
    worker_batch_max_wait_s: float = Field(
        default=0.0,
        ge=0,
        description="How long a batch waits for more jobs after its first one; under load, batches "
        "fill while the processor is busy (measured on 2 cores: 0 s gives c=1 p50 26 ms, 2 ms 32 ms).",
    )
    worker_batch_processors: int = Field(
        default=1,
        gt=0,
        description="Micro-batches of one worker process in flight at once; more overlap their Triton "
        "calls, but each closes smaller (measured on 2 cores: 1 serves 149 jobs/s, 2 serve 113).",
    )
    worker_triton_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="While no Triton replica answers, how long a batch waits (probing) for one before "
        "its jobs go back to the queue with a retry; at most a third of task_visibility_timeout_s. "
        "Holding them keeps the workers from spinning retries while Triton restarts.",
    )
    worker_metrics_port: int = Field(
        default=9101, ge=0, description="Port of a worker's /metrics; 0 turns it off."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address the worker metrics server binds.")
    worker_infer_threads: int = Field(
        default=8, gt=0, description="Threads per worker process sending the batches of bulk jobs."
    )

    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How every process logs: text (readable, the local default) or json (one object a "
        "line with ts, level, logger, msg and job_id, trace_id, model, version where known).",
    )

    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/gRPC collector (e.g. http://otel-collector:4317) that receives the traces of "
        "every hop of a job; unset: tracing is off, and no OpenTelemetry SDK is loaded.",
    )

    # Triton's restricted protocols (model repository, shared memory, logging, trace).
    triton_control_header: str = Field(
        default="hybrid-control-key",
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Header Triton checks on its restricted protocols (gRPC clients send it with the "
        "prefix triton-grpc-protocol-); must match the tritonserver flags.",
    )
    triton_control_secret: SecretStr | None = Field(
        default=None,
        description="Value of that header, sent on every repository index, model load and unload; "
        "unset: sent without it, which a restricting Triton refuses. Only the API needs it.",
    )

    # A pool of Triton replicas (triton_client.pool): requests spread over the healthy ones.
    triton_grpc_urls: str | None = Field(
        default=None,
        description="Comma-separated gRPC host:port of every Triton replica; unset: the one "
        "HYBRID_TRITON_GRPC_URL. Inference goes to the healthy replica with the fewest requests in "
        "flight; the rollout controller loads and unloads versions on every replica.",
    )
    triton_health_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often each process probes every replica's liveness: a replica taken out "
        "after a failed call is taken back within this long of answering again.",
    )

    @property
    def triton_urls(self) -> list[str]:
        """Every replica's gRPC host:port: HYBRID_TRITON_GRPC_URLS, else the one HYBRID_TRITON_GRPC_URL."""
        urls = [url.strip() for url in (self.triton_grpc_urls or "").split(",") if url.strip()]
        return urls or [self.triton_grpc_url]

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'hybrid.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once from the environment."""
    return Settings()
