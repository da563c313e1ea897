"""Retry delays: exponential backoff with jitter, capped."""

from __future__ import annotations

import random


def backoff_delay_s(retries: int, *, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``retries + 1``: ``min(max, base * 2**retries)``, jittered to [50%, 100%].

    Jitter spreads the retries of many jobs that failed together (Triton restarting).
    """
    ceiling = min(max_s, base_s * (2.0**retries))
    return ceiling * (0.5 + 0.5 * (rng or random).random())
