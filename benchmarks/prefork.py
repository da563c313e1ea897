"""The command line shared by the benchmark's prefork Celery workers (``baseline`` and ``seed``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from celery import Celery


def prefork_argv(concurrency: int, loglevel: str, *, queue: str, name: str) -> list[str]:
    """Celery arguments of a prefork worker named ``name@host`` consuming ``queue``."""
    return [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--queues={queue}",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def prefork_main(
    app: Celery, argv: Sequence[str] | None, *, module: str, description: str | None, queue: str, name: str
) -> int:
    """``python -m <module> [--concurrency N] [--loglevel L]``: one process per core by default."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args(argv)
    app.worker_main(prefork_argv(args.concurrency, args.loglevel, queue=queue, name=name))
    return 0
