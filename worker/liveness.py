"""A worker's liveness: its consumer loop touches a file; a probe checks that the file is fresh.

The file is touched from the consumer's own event loop (Celery's timer runs in that loop with
the Redis transport), so a consumer that is alive but stuck stops touching it, and so does one
that lost its broker. A probe (Compose healthcheck, Kubernetes liveness) runs
``python -m worker.liveness`` and restarts the worker when the file is older than
``--max-age-s``; choose it above the longest broker outage the worker should ride out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from celery import bootsteps

from hybrid_core.settings import get_settings

TOUCH_INTERVAL_S = 5.0
DEFAULT_MAX_AGE_S = 120.0


def touch(path: Path) -> None:
    path.touch()


class LivenessFile(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep: touch ``worker_liveness_file`` every few seconds while consuming."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path = get_settings().worker_liveness_file
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        if self.path is None:
            return
        touch(self.path)
        self.tref = parent.timer.call_repeatedly(TOUCH_INTERVAL_S, touch, (self.path,), priority=10)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


def age_s(path: Path) -> float | None:
    """Seconds since the file was touched, or None when it does not exist."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when the worker's liveness file is fresh, 1 otherwise (with the reason)."""
    parser = argparse.ArgumentParser(prog="python -m worker.liveness", description=main.__doc__)
    parser.add_argument("--max-age-s", type=float, default=DEFAULT_MAX_AGE_S)
    args = parser.parse_args(argv)
    path = get_settings().worker_liveness_file
    if path is None:
        print("HYBRID_WORKER_LIVENESS_FILE is not set")
        return 1
    age = age_s(path)
    if age is None or age > args.max_age_s:
        print(f"worker not alive: {path} " + ("missing" if age is None else f"touched {age:.0f}s ago"))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
