"""The seed's worker, done well: Celery prefork, the model in-process, the result in Redis.

One process per core; each child loads the TorchScript model once after the fork with one
intra-op thread, and answers one job per task: the same pre/post-processing as ours
(``hybrid_core.forecasting.forecast`` over the version's ``params.json``), the result returned
to Celery's Redis result backend. No database, no outbox, no hot state, no metrics.
Run it with ``python -m benchmarks.seed_worker``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from celery.signals import worker_process_init

from benchmarks.prefork import prefork_argv, prefork_main
from benchmarks.seed_queue import SEED_QUEUE, SEED_TASK, make_seed_celery
from benchmarks.torchscript import PRELOAD_ENV, Forward, load_forward, preload_list
from hybrid_core.errors import HybridError
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import forecast
from hybrid_core.settings import get_settings
from hybrid_core.version_params import VersionParams, load_version_params
from triton_client.codec import InferenceOutput

app = make_seed_celery(get_settings(), results=True)

_models: dict[tuple[str, str], Forward] = {}
"""This child's loaded models (emptied after the fork: never reuse what the parent built)."""


def forecast_result(
    series: Sequence[Sequence[float | None]],
    params: VersionParams,
    forward: Forward,
    *,
    horizon: int | None,
    batch_size: int,
) -> dict[str, Any]:
    """A job's result as the API shows it: ``version``, ``forecasts``, ``interval_level``."""

    def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        return InferenceOutput(outputs=forward(batch), model_version=params.version)

    spec = ForecastSpec(horizon=params.horizon if horizon is None else horizon)
    outcome = forecast(series, params, infer, spec, batch_size=batch_size)
    return {
        "version": outcome.version,
        "forecasts": [f.as_dict() for f in outcome.forecasts],
        "interval_level": params.residuals.interval_level,
    }


def load_model(model: str, version: str) -> tuple[VersionParams, Forward]:
    """The version's parameters and its TorchScript model (loaded on first use in this child)."""
    repository = Path(get_settings().model_repository)
    params = load_version_params(repository, model, version)
    key = (model, version)
    if key not in _models:
        if params.artifact.format != "torchscript":
            raise HybridError(f"the seed serves TorchScript only, not {params.artifact.format}")
        _models[key] = load_forward(repository / model / version / params.artifact.file)
    return params, _models[key]


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load_after_fork(**_: object) -> None:
    _models.clear()
    for name, version in preload_list(os.environ.get(PRELOAD_ENV, "")):
        load_model(name, version)


@app.task(name=SEED_TASK)  # type: ignore[untyped-decorator]
def forecast_job(
    model_name: str, version: str, series: list[list[float | None]], horizon: int | None
) -> dict[str, Any]:
    """One job in-process; an error fails the task (Celery stores it as the result)."""
    params, forward = load_model(model_name, version)
    return forecast_result(
        series, params, forward, horizon=horizon, batch_size=get_settings().infer_batch_size
    )


def worker_argv(concurrency: int, loglevel: str) -> list[str]:
    """Celery arguments of the seed worker: prefork, one process per core by default."""
    return prefork_argv(concurrency, loglevel, queue=SEED_QUEUE, name="seed")


def main(argv: Sequence[str] | None = None) -> int:
    return prefork_main(
        app, argv, module="benchmarks.seed_worker", description=__doc__, queue=SEED_QUEUE, name="seed"
    )


if __name__ == "__main__":
    raise SystemExit(main())
