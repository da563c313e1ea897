"""Poll-until-true with a deadline, instead of fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    message: str = "condition",
) -> T:
    """Call ``probe`` until it returns a truthy value; raise TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(interval_s)
    raise TimeoutError(f"{message} not met within {timeout_s}s (last error: {last_error!r})")
