"""``hybrid-inference worker``: start a Celery thin-client worker."""

from __future__ import annotations

import argparse
from typing import Any

from celery.signals import setup_logging

from hybrid_core.logs import configure_logging
from hybrid_core.queueing import JOBS_QUEUE
from hybrid_core.settings import get_settings
from hybrid_core.tracing import configure_tracing


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("worker", help="run a Celery thin-client worker")
    parser.add_argument("--concurrency", type=int, default=None, help="threads (jobs in flight)")
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--hostname", default=None, help="Celery node name, e.g. w1@%%h")
    parser.set_defaults(handler=run)


def worker_argv(concurrency: int, loglevel: str, hostname: str | None, *, banner: bool = True) -> list[str]:
    """Arguments of the Celery worker.

    The threads pool: each task blocks on gRPC, so many threads in one process keep
    many requests in flight for Triton's dynamic batcher, in a fraction of the memory
    of one process per task, and with one gRPC channel per process. Without ``banner``
    (JSON logs) Celery prints no startup banner, which is not a log line, to stdout.
    """
    argv = [] if banner else ["--quiet"]
    argv += [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--queues={JOBS_QUEUE}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    return argv


def run(args: argparse.Namespace) -> int:
    from worker.metrics import serve_metrics
    from worker.tasks import app

    settings = get_settings()
    configure_logging(settings.log_format, args.loglevel)
    # A receiver of setup_logging tells Celery to configure no logging of its own.
    setup_logging.connect(_keep_our_logging)
    configure_tracing(settings, "hybrid-worker", consumes_tasks=True)
    if settings.worker_metrics_port:
        serve_metrics(settings.worker_metrics_port, settings.metrics_host)
    concurrency = args.concurrency or settings.worker_concurrency
    banner = settings.log_format == "text"
    app.worker_main(worker_argv(concurrency, args.loglevel, args.hostname, banner=banner))
    return 0


def _keep_our_logging(**_: Any) -> None:
    """Celery's ``setup_logging`` signal: logging is already configured (``hybrid_core.logs``)."""
