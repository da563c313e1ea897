"""Python client of the hybrid-inference forecasting platform: long-format pandas frames in and out.

    from hybrid_client import HybridClient

    with HybridClient("http://127.0.0.1:8080") as client:
        forecast = client.forecast(df, "lstm_timeseries", horizon=52, levels=[80, 95])

``df`` holds ``unique_id``, ``ds``, ``y``; the answer ``unique_id``, ``ds``, ``mean``, ``lo-80``,
``hi-80``, ``lo-95``, ``hi-95`` (and ``q-0.1``... for quantiles). Errors: :mod:`hybrid_client.errors`.
"""

from hybrid_client._async import AsyncHybridClient
from hybrid_client._calls import Submission
from hybrid_client._protocol import RequestLimits, RetryPolicy
from hybrid_client._sync import HybridClient
from hybrid_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    GatewayTimeout,
    HybridClientError,
    InvalidInput,
    JobCancelled,
    JobError,
    JobFailed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    Unauthorized,
    WaitTimeout,
)
from hybrid_client.evaluation import Backtest, Scores, season_length

__all__ = [
    "ApiError",
    "AsyncHybridClient",
    "Backtest",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "GatewayTimeout",
    "HybridClient",
    "HybridClientError",
    "InvalidInput",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "NotFound",
    "PayloadTooLarge",
    "RequestLimits",
    "RetryPolicy",
    "Scores",
    "ServiceUnavailable",
    "Submission",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "WaitTimeout",
    "season_length",
]
