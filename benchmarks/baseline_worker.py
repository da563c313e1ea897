"""Our job path with the model in-process instead of Triton: the benchmark's ``baseline``.

A Celery worker with the prefork pool (one process per core) registered under the product's
task name, so the API is unchanged. Each child loads the TorchScript model once after the
fork (one intra-op thread) and answers one job per task in-process, through the very same
``worker.service.process_batch`` with a batch of one job (same pre/post-processing,
persistence and publishing): only the runtime's ``infer`` seam differs. Run it with
``python -m benchmarks.baseline_worker``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from celery import Task
from celery.signals import worker_process_init

from benchmarks.prefork import prefork_argv, prefork_main
from benchmarks.torchscript import PRELOAD_ENV, Forward, load_forward, preload_list
from hybrid_core.errors import HybridError
from hybrid_core.queueing import JOBS_QUEUE, RUN_JOB_TASK, make_celery
from hybrid_core.settings import get_settings
from triton_client import InferenceOutput
from worker.runtime import WorkerRuntime, build_runtime
from worker.service import fail_job, process_batch

logger = logging.getLogger(__name__)

app = make_celery(get_settings())


@dataclass
class InProcessRuntime(WorkerRuntime):
    """A worker runtime whose ``infer`` runs the version's TorchScript file in this process."""

    models: dict[tuple[str, str], Forward] = field(default_factory=dict)

    def model(self, model: str, version: str) -> Forward:
        """The loaded model (loaded on first use)."""
        key = (model, version)
        if key not in self.models:
            params = self.params(model, version)
            if params.artifact.format != "torchscript":
                raise HybridError(f"the baseline serves TorchScript only, not {params.artifact.format}")
            repository = Path(self.settings.model_repository)
            self.models[key] = load_forward(repository / model / version / params.artifact.file)
        return self.models[key]

    def infer(self, model: str, version: str, batch: npt.NDArray[np.float32]) -> InferenceOutput:
        return InferenceOutput(outputs=self.model(model, version)(batch), model_version=version)


_runtime: InProcessRuntime | None = None
_lock = threading.Lock()


def get_runtime() -> InProcessRuntime:
    """This child's runtime, built on first use (after the fork)."""
    global _runtime
    with _lock:
        if _runtime is None:
            # build_runtime also opens a Triton channel; gRPC connects lazily and this one never
            # sends anything, since infer() is overridden.
            base = build_runtime(get_settings())
            fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(WorkerRuntime)}
            _runtime = InProcessRuntime(**fields)
        return _runtime


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load_after_fork(**_: object) -> None:
    global _runtime
    _runtime = None  # never reuse what the parent built
    runtime = get_runtime()
    for model, version in preload_list(os.environ.get(PRELOAD_ENV, "")):
        runtime.model(model, version)


@app.task(  # type: ignore[untyped-decorator]
    name=RUN_JOB_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_job(self: Task[Any, Any], job_id: str, series_count: int = 1) -> None:
    """One job in-process; failures are recorded (nothing here is worth a retry).

    ``series_count`` comes with every message of the product's queue; the baseline runs each
    job alone whatever its size.
    """
    runtime = get_runtime()
    try:
        for error in process_batch(runtime, [job_id]).values():
            fail_job(runtime, job_id, error)
    except HybridError as exc:
        fail_job(runtime, job_id, exc)
    except Exception as exc:
        logger.exception("job %s failed unexpectedly", job_id)
        fail_job(runtime, job_id, HybridError(f"internal error: {type(exc).__name__}: {exc}"))


def worker_argv(concurrency: int, loglevel: str) -> list[str]:
    """Celery arguments of the baseline worker: prefork, one process per core by default."""
    return prefork_argv(concurrency, loglevel, queue=JOBS_QUEUE, name="baseline")


def main(argv: Sequence[str] | None = None) -> int:
    return prefork_main(
        app, argv, module="benchmarks.baseline_worker", description=__doc__, queue=JOBS_QUEUE, name="baseline"
    )


if __name__ == "__main__":
    raise SystemExit(main())
